// Package kube applies rendered manifests to clusters with server-side
// apply (field manager "aisedge", strict field validation) and waits for
// them to become ready, printing progress. Applying the same manifests
// twice changes nothing. Deploy runs a whole fleet: the management cluster
// first, then every site's child cluster through its kubeconfig.
//
// The server's own error is returned for anything it refuses, naming the
// object. cmd/aisedge's `fleet apply` uses it; internal/fleet/kube/kubetest
// starts a real kube-apiserver for its tests.
package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager owns every field aisedge applies.
const FieldManager = "aisedge"

// Result of applying one object.
type Result string

const (
	Created    Result = "created"
	Configured Result = "configured"
	Unchanged  Result = "unchanged"
	// Skipped: a dry run could not check the object because its
	// namespace does not exist yet (it would be created first).
	Skipped Result = "not checked (namespace created by this apply)"
	// NotServed: an object of an optional kind (OptionalKinds) the
	// cluster does not serve was left out.
	NotServed Result = "left out (its kind is not served here)"
)

// OptionalKinds are the kinds aisedge renders for add-ons a cluster may
// lack, with the add-on that serves them: Apply leaves their objects out,
// saying so, where the kind is not served, so that a cluster without the
// add-on is not refused (the Prometheus Operator's ServiceMonitor).
var OptionalKinds = map[schema.GroupKind]string{
	{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}: "the Prometheus Operator",
}

// Client applies objects to one cluster.
type Client struct {
	// Name labels progress lines ("management", a site).
	Name   string
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// Out receives one line per object and wait progress; nil discards.
	Out io.Writer
	// DryRun asks the server to validate and default without persisting.
	DryRun bool
	// Force takes over fields another manager owns (kubectl's
	// --force-conflicts); without it such a conflict is an error.
	Force bool
	// PollInterval and ProgressInterval tune waits (tests shorten them).
	PollInterval, ProgressInterval time.Duration
}

// New returns a client for the cluster cfg points at.
func New(name string, cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	c := &Client{Name: name, PollInterval: time.Second, ProgressInterval: 5 * time.Second}
	// The server's warnings (deprecations, suspicious values) go to the
	// progress output, not to klog.
	cfg.WarningHandler = warningHandler{c}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.dyn = dyn
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return c, nil
}

type warningHandler struct{ c *Client }

func (w warningHandler) HandleWarningHeader(code int, agent string, text string) {
	if code == 299 && text != "" {
		w.c.printf("warning from the server: %s", text)
	}
}

func (c *Client) printf(format string, args ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, "%s: "+format+"\n", append([]any{c.Name}, args...)...)
	}
}

// ObjectError is the server's refusal of one object.
type ObjectError struct {
	Cluster, Kind, Namespace, Name string
	Err                            error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("%s: %s: %v", e.Cluster, objName(e.Kind, e.Namespace, e.Name), e.Err)
}

func (e *ObjectError) Unwrap() error { return e.Err }

func objName(kind, ns, name string) string {
	if ns == "" {
		return kind + " " + name
	}
	return kind + " " + ns + "/" + name
}

// resource maps an object to its REST resource, refreshing discovery once
// when the kind is unknown (a CRD installed a moment ago).
func (c *Client) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, nil, fmt.Errorf("the cluster does not serve %s (is its CustomResourceDefinition installed?)", gvk)
		}
		return nil, nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(o.GetNamespace()), m, nil
	}
	return c.dyn.Resource(m.Resource), m, nil
}

// Served reports whether the cluster serves a kind (e.g. a CRD's).
func (c *Client) Served(gvk schema.GroupVersionKind) bool {
	_, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.mapper.Reset()
		_, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return err == nil
}

// Apply server-side applies objs in order and reports each. It goes on
// after a refused object and returns every refusal (as *ObjectError,
// joined).
func (c *Client) Apply(ctx context.Context, objs []*unstructured.Unstructured) (map[Result]int, error) {
	counts := map[Result]int{}
	var errs []error
	newNamespaces := map[string]bool{}
	for _, o := range objs {
		r, err := c.applyOne(ctx, o, newNamespaces)
		if err != nil {
			errs = append(errs, &ObjectError{Cluster: c.Name, Kind: o.GetKind(), Namespace: o.GetNamespace(), Name: o.GetName(), Err: err})
			c.printf("%s refused: %v", objName(o.GetKind(), o.GetNamespace(), o.GetName()), err)
			continue
		}
		counts[r]++
		suffix := ""
		if r == NotServed {
			suffix = ": install " + OptionalKinds[o.GroupVersionKind().GroupKind()] + " to have it"
		} else if c.DryRun {
			suffix = " (server dry run)"
		}
		c.printf("%s %s%s", objName(o.GetKind(), o.GetNamespace(), o.GetName()), r, suffix)
	}
	return counts, errors.Join(errs...)
}

func (c *Client) applyOne(ctx context.Context, o *unstructured.Unstructured, newNamespaces map[string]bool) (Result, error) {
	if _, ok := OptionalKinds[o.GroupVersionKind().GroupKind()]; ok && !c.Served(o.GroupVersionKind()) {
		return NotServed, nil
	}
	if c.DryRun && newNamespaces[o.GetNamespace()] {
		return Skipped, nil
	}
	ri, _, err := c.resource(o)
	if err != nil {
		return "", err
	}
	live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return "", err
	}
	body, err := json.Marshal(o.Object)
	if err != nil {
		return "", err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &c.Force, FieldValidation: "Strict"}
	if c.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	got, err := ri.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		if apierrors.IsConflict(err) && !c.Force {
			return "", fmt.Errorf("%w (another field manager owns these fields; rerun with --force-conflicts to take them over)", err)
		}
		return "", err
	}
	switch {
	case live == nil:
		if o.GetKind() == "Namespace" && c.DryRun {
			newNamespaces[o.GetName()] = true
		}
		return Created, nil
	case sameContent(live, got) || (!c.DryRun && got.GetResourceVersion() == live.GetResourceVersion()):
		// The content test covers dry runs and the one write the
		// apiserver makes on the first re-apply of a PersistentVolumeClaim
		// (a new resourceVersion, the same object).
		return Unchanged, nil
	}
	return Configured, nil
}

// sameContent compares two versions of an object without the fields the
// server changes on every write.
func sameContent(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) map[string]any {
		m := u.DeepCopy().Object
		unstructured.RemoveNestedField(m, "metadata", "managedFields")
		unstructured.RemoveNestedField(m, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(m, "metadata", "generation")
		return m
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

// Get fetches one object (nil, nil when it does not exist).
func (c *Client) Get(ctx context.Context, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(ns)
	ri, _, err := c.resource(u)
	if err != nil {
		return nil, err
	}
	got, err := ri.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return got, err
}

// Dynamic is the client's dynamic interface (for tests and callers that
// need more than apply).
func (c *Client) Dynamic() dynamic.Interface { return c.dyn }

// Resource maps a kind to its resource (for tests).
func (c *Client) Resource(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	_, m, err := c.resource(u)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	return m.Resource, nil
}

// describe names an object for progress lines.
func describe(o *unstructured.Unstructured) string {
	return objName(o.GetKind(), o.GetNamespace(), o.GetName())
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
