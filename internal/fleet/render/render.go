// Package render turns a fleet configuration into Kubernetes manifests:
// one set for the management cluster (cert-manager's CA and certificates,
// SeaweedFS, the hub, one k0smotron Cluster per site) and one per site's
// child cluster (the edge workload). Objects are built as typed Go values
// (k8s.io/api, or maps for the cert-manager and k0smotron kinds) and
// marshalled, never assembled from text templates, so every value is
// YAML-safe. The same configuration always renders the same bytes.
//
// Secrets reach the clusters as Secret objects only: never in container
// arguments, never in ConfigMaps. Files that hold Secrets are marked so
// that Write gives them mode 0600.
//
// internal/fleet/kube applies what Render returns; cmd/aisedge writes it.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/s3iam"
)

// File is one manifest file of a cluster.
type File struct {
	// Path is relative to the output folder (management/20-seaweedfs.yaml).
	Path string
	// Objects are applied in order. Raw files (Helm values, the k0s
	// controller configuration) have none and are not applied.
	Objects []*unstructured.Unstructured
	Raw     []byte
	// Secret marks files holding credentials (mode 0600).
	Secret bool
	// Note is a comment at the top of the file.
	Note string
}

// Cluster is everything rendered for one cluster.
type Cluster struct {
	// Name is "management" or a site's name.
	Name  string
	Files []File
}

// Objects returns the cluster's objects in apply order.
func (c *Cluster) Objects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, f := range c.Files {
		out = append(out, f.Objects...)
	}
	return out
}

// Manifests is a rendered fleet.
type Manifests struct {
	Management Cluster
	Sites      []Cluster
	// CABundleMissing is set when the edges' CA bundle is not known yet
	// (no tls.caBundleFile and none given): apply fills it in from the
	// management cluster once cert-manager has issued the CA.
	CABundleMissing bool
	// HubCABundleMissing is set when the hub's CA bundle (the private CA,
	// which signs SeaweedFS's in-cluster certificate whatever the
	// issuer) is not known: apply fills it in from the management
	// cluster's CA Secret.
	HubCABundleMissing bool
}

// Options adjust a rendering.
type Options struct {
	// CABundle is the PEM the edges trust for the S3 endpoint; it
	// overrides management.tls.caBundleFile.
	CABundle []byte
	// ExtraEdgeKeys are keys an edge's S3 identity accepts besides the
	// site's own, by site name: during a key rotation s3.json carries the
	// old and the new key at once (the site's own key comes first).
	ExtraEdgeKeys map[string][]s3iam.Key
	// IssuerSecret is the CA Secret the ClusterIssuer ais-edge-ca-issuer
	// signs with; empty means the first CA's (ais-edge-ca-secret). After
	// a CA rotation apply passes the current one, so that it does not
	// point the issuer back at the old CA.
	IssuerSecret string
}

// Names kept from the original so that an installation is adopted in place
// and its log queries keep working (docs/compat.md, "Kubernetes objects
// and names" and "Observability").
const (
	NSIngest      = "xnat-ingest"  // edge workloads (child cluster)
	NSUpload      = "xnat-upload"  // the hub (management cluster)
	NSSeaweedFS   = "seaweedfs"    // SeaweedFS (management cluster)
	NSCertManager = "cert-manager" // the CA Certificate and its Secret

	SelfSignedIssuer = "selfsigned-bootstrap"
	CACertificate    = "ais-edge-ca"
	CASecret         = "ais-edge-ca-secret"
	SeaweedFSTLS     = "seaweedfs-tls"
	// SeaweedFSInternalTLS is the certificate of SeaweedFS's Service names
	// (the hub's endpoint), always from the private CA.
	SeaweedFSInternalTLS = "seaweedfs-internal-tls"
	S3ConfigSecret       = "s3-config"           // SeaweedFS's s3.json (the original's ConfigMap s3-config)
	HubS3Secret          = "s3-credentials"      // the hub's (admin) S3 key
	XNATSecret           = "xnat-credentials"    // server, username, password
	EdgeS3Secret         = "s3-edge-credentials" // access-key, secret-key
	CABundleSecret       = "ca-bundle"           // ca.crt
	HMACSecret           = "orthanc-deid-salt"   // the de-identification key
	RoutingConfigMap     = "orthanc-routing"     // routing.json
	ProfileConfigMap     = "orthanc-deidentification-profile"
	EdgeConfigMap        = "aisedge-edge-config" // edge.yaml (no secrets)
	HubConfigMap         = "aisedge-hub-config"  // hub.yaml (no secrets)
	HubDeployment        = "xnat-ingest-upload"  // the original's upload Deployment
	EdgeDeployment       = "aisedge-edge"        // replaces sort, s3-uploader and orthanc
	HubPVC               = "aisedge-hub-data"
	S3ConfigHashAnn      = "s3-config-hash" // the original's roll annotation
	ConfigHashAnn        = "aisedge.io/config-hash"
	FieldManager         = "aisedge"
)

// Render builds the manifests of a validated configuration.
func Render(c *fleet.Config, opt Options) (*Manifests, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	ca := opt.CABundle
	if ca == nil && c.Management.TLS.CABundleFile != "" {
		b, err := os.ReadFile(c.Path(c.Management.TLS.CABundleFile))
		if err != nil {
			return nil, fmt.Errorf("management.tls.caBundleFile: %w", err)
		}
		ca = b
	}
	r := &renderer{c: c, ca: ca, extraKeys: opt.ExtraEdgeKeys, issuerSecret: opt.IssuerSecret}
	m := &Manifests{}
	var err error
	if m.Management, err = r.management(); err != nil {
		return nil, err
	}
	for i := range c.Sites {
		site, err := r.site(&c.Sites[i])
		if err != nil {
			return nil, fmt.Errorf("site %s: %w", c.Sites[i].Name, err)
		}
		m.Sites = append(m.Sites, site)
	}
	m.CABundleMissing = r.needCA() && len(ca) == 0
	m.HubCABundleMissing = len(ca) == 0
	return m, nil
}

type renderer struct {
	c            *fleet.Config
	ca           []byte
	extraKeys    map[string][]s3iam.Key
	issuerSecret string
}

// needCA reports whether edges need a private CA bundle (the private CA
// issues the S3 endpoint's certificate).
func (r *renderer) needCA() bool { return r.c.Management.TLS.Issuer == fleet.IssuerCA }

// toUnstructured converts a typed object (with its TypeMeta set) and drops
// the empty fields typed objects always carry (creationTimestamp: null,
// status: {}), so that files and applied objects stay minimal.
func toUnstructured(obj runtime.Object) *unstructured.Unstructured {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		panic(fmt.Sprintf("render: converting %T: %v", obj, err)) // typed objects always convert
	}
	clean(m)
	delete(m, "status") // set by controllers, never rendered
	return &unstructured.Unstructured{Object: m}
}

// clean removes null values, empty status and creationTimestamp, recursively.
func clean(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			clean(x)
			if (k == "status" || k == "resources") && len(x) == 0 {
				delete(m, k)
			}
			// An empty pod template metadata keeps its (empty) map.
		case []any:
			for _, e := range x {
				if em, ok := e.(map[string]any); ok {
					clean(em)
				}
			}
		}
		if k == "creationTimestamp" {
			delete(m, k)
		}
	}
}

// obj builds an object of a kind without Go types (CRDs).
func obj(apiVersion, kind, namespace, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	u.SetName(name)
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	if len(labels) > 0 {
		u.SetLabels(labels)
	}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

// hash returns the first 16 hex digits of the SHA-256 of the parts (the
// original's config-hash length), each part length-prefixed.
func hash(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Marshal writes objects as a YAML stream (keys sorted, so deterministic).
func Marshal(objs []*unstructured.Unstructured) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}

// Bytes returns a file's content as written.
func (f *File) Bytes() ([]byte, error) {
	var b bytes.Buffer
	if f.Note != "" {
		for _, l := range strings.Split(strings.TrimRight(f.Note, "\n"), "\n") {
			b.WriteString("# " + l + "\n")
		}
	}
	if f.Objects == nil {
		b.Write(f.Raw)
		return b.Bytes(), nil
	}
	y, err := Marshal(f.Objects)
	if err != nil {
		return nil, err
	}
	b.Write(y)
	return b.Bytes(), nil
}

// marker marks a folder written by Write, which may therefore replace it.
const marker = ".aisedge-render"

// Write writes the manifests under dir: dir/management/… and
// dir/sites/<site>/…. A folder that Write made before is replaced
// (removed sites disappear); any other non-empty folder is refused.
func (m *Manifests) Write(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(ents) > 0:
		if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
			return fmt.Errorf("%s is not empty and was not written by aisedge fleet render; choose an empty or new folder", dir)
		}
		for _, sub := range []string{"management", "sites"} {
			if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, marker), []byte("written by aisedge fleet render; the next render replaces management/ and sites/\n"), 0o644); err != nil {
		return err
	}
	for _, c := range m.All() {
		for _, f := range c.Files {
			b, err := f.Bytes()
			if err != nil {
				return err
			}
			p := filepath.Join(dir, filepath.FromSlash(f.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if f.Secret {
				mode = 0o600
			}
			if err := os.WriteFile(p, b, mode); err != nil {
				return err
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// All returns the management cluster followed by every site.
func (m *Manifests) All() []*Cluster {
	out := []*Cluster{&m.Management}
	for i := range m.Sites {
		out = append(out, &m.Sites[i])
	}
	return out
}

// Site returns a site's manifests.
func (m *Manifests) Site(name string) (*Cluster, bool) {
	for i := range m.Sites {
		if m.Sites[i].Name == name {
			return &m.Sites[i], true
		}
	}
	return nil, false
}

// Paths lists every file path, sorted (for tests and output).
func (m *Manifests) Paths() []string {
	var out []string
	for _, c := range m.All() {
		for _, f := range c.Files {
			out = append(out, f.Path)
		}
	}
	sort.Strings(out)
	return out
}
