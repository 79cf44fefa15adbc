// Command pause is the sandbox ("infra") container of the test node's pods
// (internal/testpeer/kubenode): it holds the pod's namespaces by sleeping
// until it is told to stop. As PID 1 of a pod that shares its process
// namespace it also reaps orphans. No registry is reachable from the test
// machines, so the node builds this static binary into its own image
// instead of pulling registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
