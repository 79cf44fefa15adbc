package kubenode

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitPodReady waits until the pod is Ready and returns it. It fails when
// the pod ends (Succeeded or Failed), when a process of the node exits, or
// when nothing changes for progress.IdleLimit (pod status, the node's
// output and CPU time).
func (n *Node) WaitPodReady(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := n.waitFor("pod "+namespace+"/"+name+" Ready", func() (bool, string) {
		p, err := n.Clientset.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return true, ""
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return true, ""
			}
		}
		var states []string
		for _, c := range p.Status.ContainerStatuses {
			states = append(states, c.Name+": "+containerState(c))
		}
		return false, fmt.Sprintf("%s %v", p.Status.Phase, states)
	})
	if err != nil {
		return pod, err
	}
	if pod.Status.Phase != corev1.PodRunning {
		return pod, fmt.Errorf("pod %s/%s ended: %s", namespace, name, pod.Status.Phase)
	}
	return pod, nil
}
