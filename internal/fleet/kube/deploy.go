package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// Options of Deploy.
type Options struct {
	// Out receives progress; nil discards it.
	Out io.Writer
	// DryRun: the servers validate everything (--dry-run=server) and
	// nothing changes; no waits, no kubeconfig written.
	DryRun bool
	// Force takes over fields owned by another field manager.
	Force bool
	// Wait for readiness (Deployments available, Certificates issued,
	// control planes ready) with Timeout per cluster.
	Wait    bool
	Timeout time.Duration
	// Sites limits the sites applied (nil: every site).
	Sites []string
	// ManagementOnly stops after the management cluster.
	ManagementOnly bool
	// SiteConfig returns the REST config of a site's child cluster; nil
	// uses the site's kubeconfig file, or makes it from the Secret
	// k0smotron writes (<site>/<site>-kubeconfig).
	SiteConfig func(site *fleet.Site) (*rest.Config, error)
	// poll shortens waits in tests.
	PollInterval time.Duration
}

// Kinds of the CRDs the management manifests need.
var requiredKinds = []struct {
	gvk  schema.GroupVersionKind
	from string
}{
	{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, "cert-manager (v1.19 or later)"},
	{schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "ClusterIssuer"}, "cert-manager (v1.19 or later)"},
	{schema.GroupVersionKind{Group: "k0smotron.io", Version: "v1beta1", Kind: "Cluster"}, "k0smotron (v1.10 or later)"},
}

// Deploy applies a rendered fleet: the management cluster (mgmt) first,
// then each site's child cluster. It stops before the sites if the
// management cluster refuses anything.
func Deploy(ctx context.Context, c *fleet.Config, m *render.Manifests, mgmt *rest.Config, opt Options) error {
	if opt.Timeout == 0 {
		opt.Timeout = 10 * time.Minute
	}
	mc, err := New("management", mgmt)
	if err != nil {
		return err
	}
	opt.setup(mc)
	var missing []string
	for _, k := range requiredKinds {
		if !mc.Served(k.gvk) {
			missing = append(missing, fmt.Sprintf("%s (from %s)", k.gvk.Kind+"."+k.gvk.Group, k.from))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the management cluster lacks: %s; install them first (the original's step 02)", strings.Join(missing, ", "))
	}

	objs := m.Management.Objects()
	counts, err := mc.Apply(ctx, objs)
	mc.summary(counts)
	if err != nil {
		return err
	}
	// The hub's CA bundle (and Loki's: both trust SeaweedFS's in-cluster
	// certificate by it) before the wait: their pods start once their
	// Secret is there.
	var caPEM []byte
	if m.HubCABundleMissing {
		pem, err := caBundle(ctx, mc, opt)
		switch {
		case err != nil && opt.DryRun:
			mc.printf("note: %v; the hub's ca-bundle is not checked in this dry run", err)
		case err != nil:
			return err
		default:
			caPEM = pem
			bundles := []*unstructured.Unstructured{render.HubCABundle(pem)}
			if c.Observability.Enabled {
				bundles = append(bundles, render.LokiCABundle(pem))
			}
			if _, err := mc.Apply(ctx, bundles); err != nil {
				return err
			}
		}
	}
	if opt.Wait {
		if err := mc.Wait(ctx, objs, opt.Timeout); err != nil {
			return err
		}
	}
	if opt.ManagementOnly {
		return nil
	}

	var ca []*unstructured.Unstructured
	if m.CABundleMissing {
		pem, err := caPEM, error(nil)
		if pem == nil {
			pem, err = caBundle(ctx, mc, opt)
		}
		switch {
		case err != nil && opt.DryRun:
			mc.printf("note: %v; the edges' ca-bundle is not checked in this dry run", err)
		case err != nil:
			return err
		default:
			// The edge's bundle, and the log shipper's when the site
			// ships logs (the same Secrets rotate-ca updates).
			ca = []*unstructured.Unstructured{render.EdgeCABundle(pem)}
			if c.Observability.Enabled {
				ca = append(ca, render.ShipperCABundle(pem))
			}
		}
	}

	var errs []error
	for i := range c.Sites {
		s := &c.Sites[i]
		if !opt.selected(s.Name) {
			continue
		}
		site, ok := m.Site(s.Name)
		if !ok {
			return fmt.Errorf("site %s was not rendered", s.Name)
		}
		if err := deploySite(ctx, c, s, site, mc, ca, opt); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (o *Options) setup(c *Client) {
	c.Out, c.DryRun, c.Force = o.Out, o.DryRun, o.Force
	if o.PollInterval > 0 {
		c.PollInterval, c.ProgressInterval = o.PollInterval, 5*o.PollInterval
	}
}

func (o *Options) selected(site string) bool {
	if o.Sites == nil {
		return true
	}
	for _, s := range o.Sites {
		if s == site {
			return true
		}
	}
	return false
}

func (c *Client) summary(counts map[Result]int) {
	var parts []string
	for _, r := range []Result{Created, Configured, Unchanged, Skipped, NotServed} {
		if counts[r] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[r], r))
		}
	}
	if len(parts) > 0 {
		c.printf("%s", strings.Join(parts, ", "))
	}
}

// caBundle reads the private CA's certificate from the Secret cert-manager
// wrote (waiting for it when asked).
func caBundle(ctx context.Context, mc *Client, opt Options) ([]byte, error) {
	secretGVK := schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	deadline := time.Now().Add(opt.Timeout)
	for {
		s, err := mc.Get(ctx, secretGVK, render.NSCertManager, render.CASecret)
		if err != nil {
			return nil, err
		}
		if s != nil {
			for _, k := range []string{"ca.crt", "tls.crt"} {
				if v, _, _ := unstructured.NestedString(s.Object, "data", k); v != "" {
					return decodeB64(v)
				}
			}
		}
		if !opt.Wait || time.Now().After(deadline) {
			return nil, fmt.Errorf("the CA Secret %s/%s is not issued yet (is cert-manager running?); rerun with --wait, or give the bundle with --ca-bundle", render.NSCertManager, render.CASecret)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(mc.PollInterval):
		}
	}
}

func deploySite(ctx context.Context, c *fleet.Config, s *fleet.Site, site *render.Cluster, mc *Client, ca []*unstructured.Unstructured, opt Options) error {
	var cfg *rest.Config
	var err error
	if opt.SiteConfig != nil {
		cfg, err = opt.SiteConfig(s)
	} else {
		cfg, err = siteConfig(ctx, c, s, mc, opt)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	sc, err := New(s.Name, cfg)
	if err != nil {
		return err
	}
	opt.setup(sc)
	objs := site.Objects()
	if ca != nil {
		objs = insertAfterSecrets(objs, ca...)
	}
	counts, err := sc.Apply(ctx, objs)
	sc.summary(counts)
	if err != nil {
		return err
	}
	if opt.Wait {
		return sc.Wait(ctx, objs, opt.Timeout)
	}
	return nil
}

// insertAfterSecrets puts the CA bundle with the other Secrets, before
// the Deployment that mounts it.
func insertAfterSecrets(objs []*unstructured.Unstructured, ca ...*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs)+len(ca))
	done := false
	for _, o := range objs {
		if !done && o.GetKind() != "Namespace" && o.GetKind() != "Secret" {
			out = append(out, ca...)
			done = true
		}
		out = append(out, o)
	}
	if !done {
		out = append(out, ca...)
	}
	return out
}

// siteConfig loads the site's kubeconfig file or makes it from the Secret
// k0smotron writes for the hosted control plane.
func siteConfig(ctx context.Context, c *fleet.Config, s *fleet.Site, mc *Client, opt Options) (*rest.Config, error) {
	path := c.Path(s.Kubeconfig)
	if _, err := os.Stat(path); err == nil {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	secretGVK := schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	name := s.Name + "-kubeconfig"
	deadline := time.Now().Add(opt.Timeout)
	for {
		sec, err := mc.Get(ctx, secretGVK, s.Name, name)
		if err != nil {
			return nil, err
		}
		if sec != nil {
			v, _, _ := unstructured.NestedString(sec.Object, "data", "value")
			raw, err := decodeB64(v)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %w", s.Name, name, err)
			}
			kc, err := SiteKubeconfig(raw, c, s)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %w", s.Name, name, err)
			}
			if !opt.DryRun {
				if err := os.WriteFile(path, kc, 0o600); err != nil {
					return nil, err
				}
				mc.printf("wrote %s", path)
			}
			return clientcmd.RESTConfigFromKubeConfig(kc)
		}
		if !opt.Wait || time.Now().After(deadline) {
			return nil, fmt.Errorf("no kubeconfig: %s does not exist and k0smotron has not written Secret %s/%s yet; rerun with --wait once the control plane runs, or set sites[].kubeconfig", path, s.Name, name)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(mc.PollInterval):
		}
	}
}

// SiteKubeconfig rewrites the kubeconfig k0smotron wrote so that it reaches
// the control plane through the management ingress: on-prem the
// management node's address with the site's API hostname as TLS server
// name (no /etc/hosts needed), in the cloud the API hostname itself.
func SiteKubeconfig(raw []byte, c *fleet.Config, s *fleet.Site) ([]byte, error) {
	kc, err := clientcmd.Load(raw)
	if err != nil {
		return nil, err
	}
	m := &c.Management
	port := strconv.Itoa(m.IngressPort)
	server := "https://" + net.JoinHostPort(s.APIHost, port)
	tlsName := ""
	if m.Topology == fleet.OnPrem && m.NodeIP != "" {
		server = "https://" + net.JoinHostPort(m.NodeIP, port)
		tlsName = s.APIHost
	}
	for _, cl := range kc.Clusters {
		cl.Server = server
		cl.TLSServerName = tlsName
	}
	return clientcmd.Write(*kc)
}
