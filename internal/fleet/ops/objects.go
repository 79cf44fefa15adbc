package ops

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/aisedge/aisedge/internal/fleet/kube"
)

// Kinds the operations read and change.
var (
	gvkNamespace     = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	gvkSecret        = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	gvkPod           = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvkNode          = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	gvkDeployment    = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	gvkDaemonSet     = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	gvkJob           = schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	gvkCertificate   = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}
	gvkClusterIssuer = schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}
	gvkClusterRole   = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}
	gvkClusterRB     = schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"}
	gvkK0sCluster    = schema.GroupVersionKind{Group: "k0smotron.io", Version: "v1beta1", Kind: "Cluster"}
)

// Field managers of the changes the operations make to objects that
// fleet apply also applies (as manager "aisedge"): a pod-template
// annotation that rolls a workload, the issuer's CA after a rotation.
// Being other managers, their fields survive the next fleet apply, and a
// render that disagrees (the issuer's old CA) is a conflict fleet apply
// reports instead of silently undoing the rotation.
const (
	managerRoll       = "aisedge-roll"
	managerCARotation = "aisedge-ca-rotation"
)

// resourceFor returns the dynamic resource of a kind in a namespace.
func resourceFor(c *kube.Client, gvk schema.GroupVersionKind, ns string) (dynamic.ResourceInterface, error) {
	gvr, err := c.Resource(gvk)
	if err != nil {
		return nil, err
	}
	if ns == "" {
		return c.Dynamic().Resource(gvr), nil
	}
	return c.Dynamic().Resource(gvr).Namespace(ns), nil
}

// list returns the objects of a kind (ns "" = every namespace or
// cluster-scoped) matching the label selector.
func list(ctx context.Context, c *kube.Client, gvk schema.GroupVersionKind, ns, selector string) ([]unstructured.Unstructured, error) {
	gvr, err := c.Resource(gvk)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = c.Dynamic().Resource(gvr)
	if ns != "" {
		ri = c.Dynamic().Resource(gvr).Namespace(ns)
	}
	l, err := ri.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("%s: listing %s: %w", c.Name, gvk.Kind, err)
	}
	return l.Items, nil
}

// secretData returns a Secret's decoded data (nil, nil when it does not
// exist).
func secretData(ctx context.Context, c *kube.Client, ns, name string) (map[string][]byte, error) {
	s, err := c.Get(ctx, gvkSecret, ns, name)
	if err != nil {
		return nil, fmt.Errorf("%s: Secret %s/%s: %w", c.Name, ns, name, err)
	}
	if s == nil {
		return nil, nil
	}
	raw, _, _ := unstructured.NestedStringMap(s.Object, "data")
	out := make(map[string][]byte, len(raw))
	for k, v := range raw {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: Secret %s/%s key %s: %w", c.Name, ns, name, k, err)
		}
		out[k] = b
	}
	return out, nil
}

// remove deletes one object and says so; an object already gone is
// reported as such. It returns whether the object existed.
func (e *Env) remove(ctx context.Context, c *kube.Client, gvk schema.GroupVersionKind, ns, name string) (bool, error) {
	ri, err := resourceFor(c, gvk, ns)
	if err != nil {
		return false, fmt.Errorf("%s: %s: %w", c.Name, gvk.Kind, err)
	}
	what := objName(gvk.Kind, ns, name)
	opts := metav1.DeleteOptions{}
	bg := metav1.DeletePropagationBackground
	opts.PropagationPolicy = &bg
	if e.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	err = ri.Delete(ctx, name, opts)
	switch {
	case apierrors.IsNotFound(err):
		e.say("%s: %s already gone", c.Name, what)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%s: deleting %s: %w", c.Name, what, err)
	case e.DryRun:
		e.say("%s: %s deleted (server dry run)", c.Name, what)
	default:
		e.say("%s: %s deleted", c.Name, what)
	}
	return true, nil
}

func objName(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// patchApply server-side applies a partial object as manager (taking its
// fields over from any other manager): annotations and the issuer's CA.
func (e *Env) patchApply(ctx context.Context, c *kube.Client, o *unstructured.Unstructured, manager string) error {
	ri, err := resourceFor(c, o.GroupVersionKind(), o.GetNamespace())
	if err != nil {
		return err
	}
	body, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: manager, Force: &force, FieldValidation: "Strict"}
	if e.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts); err != nil {
		return fmt.Errorf("%s: %s: %w", c.Name, objName(o.GetKind(), o.GetNamespace(), o.GetName()), err)
	}
	return nil
}

// rollWorkload sets a pod-template annotation of a Deployment or
// DaemonSet (so its pods are replaced) if the workload exists; it reports
// whether it did.
func (e *Env) rollWorkload(ctx context.Context, c *kube.Client, gvk schema.GroupVersionKind, ns, name, key, value string) (bool, error) {
	live, err := c.Get(ctx, gvk, ns, name)
	if err != nil || live == nil {
		return false, err
	}
	if cur, _, _ := unstructured.NestedString(live.Object, "spec", "template", "metadata", "annotations", key); cur == value {
		e.say("%s: %s already rolled for this change", c.Name, objName(gvk.Kind, ns, name))
		return true, nil
	}
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvk.GroupVersion().String(), "kind": gvk.Kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}}},
	}}
	if err := e.patchApply(ctx, c, o, managerRoll); err != nil {
		return false, err
	}
	suffix := ""
	if e.DryRun {
		suffix = " (server dry run)"
	}
	e.say("%s: %s rolled (%s)%s", c.Name, objName(gvk.Kind, ns, name), key, suffix)
	return true, nil
}

// waitFor polls cond until it is done, printing what it waits for every
// ten polls; it fails after the Env's timeout.
func (e *Env) waitFor(ctx context.Context, what string, cond func() (done bool, why string, err error)) error {
	if e.DryRun {
		return nil
	}
	deadline := time.Now().Add(e.timeout())
	start := time.Now()
	for i := 0; ; i++ {
		done, why, err := cond()
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after %s: %s", what, e.timeout(), why)
		}
		if i%10 == 0 {
			e.say("waiting for %s (%s): %s", what, time.Since(start).Round(time.Second), why)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(e.poll()):
		}
	}
}

// errNoSite is returned for a site the fleet file does not name.
var errNoSite = errors.New("not in the fleet configuration")
