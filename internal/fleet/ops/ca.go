package ops

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/health"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// CA generations. The first CA is render's ais-edge-ca (Secret
// ais-edge-ca-secret); rotation N makes ais-edge-ca-gN (Secret
// ais-edge-ca-gN-secret). The original's single rotation made
// ais-edge-ca-2, read here as generation 2.
var caNameRE = regexp.MustCompile(`^` + regexp.QuoteMeta(render.CACertificate) + `(?:-g?([0-9]+))?$`)

// CANames returns the Certificate and Secret names of CA generation gen.
func CANames(gen int) (cert, secret string) {
	if gen <= 1 {
		return render.CACertificate, render.CASecret
	}
	cert = fmt.Sprintf("%s-g%d", render.CACertificate, gen)
	return cert, cert + "-secret"
}

// rotationAnn records on a generation's Certificate how far its rotation
// got: phase1 (bundles old+new), phase2 (issuer switched, re-issuing),
// done.
const rotationAnn = "aisedge.io/ca-rotation"

// caBundleAnn on the edge (and Vector) pod templates rolls them when the
// bundle changes.
const caBundleAnn = "aisedge.io/ca-bundle-hash"

// caGen is one CA generation found in the cluster.
type caGen struct {
	gen         int
	cert        *unstructured.Unstructured
	secretName  string
	rotation    string
	certificate *x509.Certificate // nil until issued
	pem         []byte
}

// caState is the management cluster's CAs.
type caState struct {
	gens   map[int]*caGen
	active *caGen // the one the issuer signs with
	newest *caGen
}

// readCAs discovers the CA generations and the issuer's current one.
func (e *Env) readCAs(ctx context.Context, mc *kube.Client) (*caState, error) {
	certs, err := list(ctx, mc, gvkCertificate, render.NSCertManager, "")
	if err != nil {
		return nil, err
	}
	st := &caState{gens: map[int]*caGen{}}
	for i := range certs {
		c := &certs[i]
		m := caNameRE.FindStringSubmatch(c.GetName())
		if m == nil {
			continue
		}
		gen := 1
		if m[1] != "" {
			gen, _ = strconv.Atoi(m[1])
		}
		secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
		g := &caGen{gen: gen, cert: c, secretName: secret, rotation: c.GetAnnotations()[rotationAnn]}
		if g.pem, g.certificate, err = e.caCert(ctx, mc, secret); err != nil {
			return nil, err
		}
		st.gens[gen] = g
		if st.newest == nil || gen > st.newest.gen {
			st.newest = g
		}
	}
	iss, err := mc.Get(ctx, gvkClusterIssuer, "", fleet.IssuerCA)
	if err != nil {
		return nil, err
	}
	if iss == nil {
		return nil, fmt.Errorf("management: ClusterIssuer %s does not exist: run aisedge fleet apply first", fleet.IssuerCA)
	}
	secret, _, _ := unstructured.NestedString(iss.Object, "spec", "ca", "secretName")
	for _, g := range st.gens {
		if g.secretName == secret {
			st.active = g
		}
	}
	if st.active == nil {
		return nil, fmt.Errorf("management: ClusterIssuer %s signs with Secret %s, which no CA Certificate %s… in %s writes; fix the issuer (fleet apply) before rotating", fleet.IssuerCA, secret, render.CACertificate, render.NSCertManager)
	}
	return st, nil
}

// caCert reads an issued CA's certificate from its Secret (nil if not
// issued yet).
func (e *Env) caCert(ctx context.Context, mc *kube.Client, secret string) ([]byte, *x509.Certificate, error) {
	data, err := secretData(ctx, mc, render.NSCertManager, secret)
	if err != nil || data == nil {
		return nil, nil, err
	}
	raw := data["tls.crt"]
	if len(raw) == 0 {
		raw = data["ca.crt"]
	}
	certs := health.ParseCerts(raw)
	if len(certs) == 0 {
		return nil, nil, nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certs[0].Raw}), certs[0], nil
}

// bundleHas reports whether a PEM bundle holds certificate c.
func bundleHas(b []byte, c *x509.Certificate) bool {
	for _, x := range health.ParseCerts(b) {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// RotateCA runs one phase of a CA rotation (see the package's README in
// docs: phase 1, wait until every edge runs with the new bundle, phase 2).
//
// Phase 1 creates CA generation N+1 (a cert-manager Certificate with the
// current CA's spec), waits until it is issued, and writes the bundle
// old+new into every place that trusts the CA: the hub's
// xnat-upload/ca-bundle (for SeaweedFS's in-cluster certificate) and, with
// the observability stack, Loki's monitoring/ca-bundle (the same), each
// site's xnat-ingest/ca-bundle and logging/ca-bundle (Vector's) and the
// local ais-edge-ca.crt, rolling the hub, Loki, the edge and Vector.
//
// Phase 2 needs a completed phase 1: it points the ClusterIssuer at the
// new CA, deletes the Secrets of the certificates the issuer signed with
// the old one (cert-manager issues them again), writes the new-only
// bundle everywhere and names the old CA, left for manual deletion.
//
// Both phases can be run again after an interruption; a rotation can
// follow another any number of times.
func (e *Env) RotateCA(ctx context.Context, phase int) error {
	mc, err := e.mgmt()
	if err != nil {
		return err
	}
	st, err := e.readCAs(ctx, mc)
	if err != nil {
		return err
	}
	switch phase {
	case 1:
		return e.caPhase1(ctx, mc, st)
	case 2:
		return e.caPhase2(ctx, mc, st)
	}
	return fmt.Errorf("--phase %d: the phases are 1 and 2", phase)
}

func (e *Env) caPhase1(ctx context.Context, mc *kube.Client, st *caState) error {
	newest := st.newest
	switch {
	case newest.gen > st.active.gen && newest.rotation == "phase2":
		return fmt.Errorf("phase 2 of the rotation to %s has started: finish it with rotate-ca --phase 2", newest.cert.GetName())
	case newest.gen == st.active.gen && newest.rotation == "phase2":
		return fmt.Errorf("phase 2 of the rotation to %s has not finished: finish it with rotate-ca --phase 2", newest.cert.GetName())
	case newest.gen > st.active.gen:
		e.say("CA rotation: resuming phase 1 (%s → %s)", st.active.cert.GetName(), newest.cert.GetName())
	default:
		gen := newest.gen + 1
		name, secret := CANames(gen)
		e.say("CA rotation phase 1: new CA %s (Secret %s/%s) next to %s", name, render.NSCertManager, secret, st.active.cert.GetName())
		spec, _, _ := unstructured.NestedMap(st.active.cert.Object, "spec")
		spec["secretName"] = secret
		// A subject of its own keeps chain building unambiguous for
		// clients that match issuers by name while both CAs are trusted.
		if cn, ok := spec["commonName"].(string); ok {
			spec["commonName"] = strings.TrimSpace(regexp.MustCompile(` \(g[0-9]+\)$`).ReplaceAllString(cn, "")) + fmt.Sprintf(" (g%d)", gen)
		}
		cert := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": gvkCertificate.GroupVersion().String(), "kind": gvkCertificate.Kind,
			"metadata": map[string]any{
				"name": name, "namespace": render.NSCertManager,
				"labels":      map[string]any{"app.kubernetes.io/part-of": "aisedge", "app.kubernetes.io/managed-by": "aisedge"},
				"annotations": map[string]any{rotationAnn: "phase1"},
			},
			"spec": spec,
		}}
		if _, err := mc.Apply(ctx, []*unstructured.Unstructured{cert}); err != nil {
			return err
		}
		if e.DryRun {
			e.would("wait for cert-manager to issue %s, then write the bundle %s + %s to every site's %s/%s and logging/%s and to %s, rolling the edges and Vector",
				name, st.active.cert.GetName(), name, render.NSIngest, render.CABundleSecret, render.CABundleSecret, e.bundlePath())
			e.say("dry run: nothing was changed")
			return nil
		}
		newest = &caGen{gen: gen, cert: cert, secretName: secret, rotation: "phase1"}
		st.gens[gen] = newest
	}
	if newest.certificate == nil {
		err := e.waitFor(ctx, "cert-manager to issue "+newest.cert.GetName(), func() (bool, string, error) {
			p, c, err := e.caCert(ctx, mc, newest.secretName)
			if err != nil {
				return false, "", err
			}
			newest.pem, newest.certificate = p, c
			return c != nil, "Secret " + newest.secretName + " not written yet", nil
		})
		if err != nil {
			return fmt.Errorf("%w (is cert-manager running? rerun rotate-ca --phase 1 to resume)", err)
		}
	}
	if st.active.certificate == nil {
		return fmt.Errorf("the current CA's Secret %s/%s holds no certificate", render.NSCertManager, st.active.secretName)
	}
	bundle := append(append([]byte{}, st.active.pem...), newest.pem...)
	if err := e.distribute(ctx, bundle); err != nil {
		return fmt.Errorf("phase 1 is not complete: %w; rerun rotate-ca --phase 1", err)
	}
	e.say("CA rotation phase 1 done: everything trusts %s and %s.", st.active.cert.GetName(), newest.cert.GetName())
	e.say("Wait until every edge and Vector runs with the new bundle (the original waited 14-30 days for offline edges), then run rotate-ca --phase 2.")
	return nil
}

func (e *Env) caPhase2(ctx context.Context, mc *kube.Client, st *caState) error {
	newest, old := st.newest, st.active
	switch {
	case newest.gen == st.active.gen && newest.rotation != "phase2":
		return fmt.Errorf("no CA rotation in progress (the issuer already signs with the newest CA, %s): run rotate-ca --phase 1 first, and phase 2 once every edge trusts the new CA", newest.cert.GetName())
	case newest.gen == st.active.gen:
		// Resuming: the issuer switched already; the old CA is the
		// newest generation before it.
		old = nil
		for g := newest.gen - 1; g >= 1 && old == nil; g-- {
			old = st.gens[g]
		}
		e.say("CA rotation: resuming phase 2 (%s)", newest.cert.GetName())
	default:
		if newest.certificate == nil {
			return fmt.Errorf("phase 1 is not complete: %s is not issued yet; rerun rotate-ca --phase 1", newest.cert.GetName())
		}
		if err := e.checkBundles(ctx, newest); err != nil {
			return fmt.Errorf("phase 1 is not complete: %w; rerun rotate-ca --phase 1 before phase 2", err)
		}
		e.say("CA rotation phase 2: %s signs from now on (instead of %s)", newest.cert.GetName(), old.cert.GetName())
	}
	if newest.certificate == nil {
		return fmt.Errorf("%s has no issued certificate", newest.cert.GetName())
	}
	if err := e.annotate(ctx, mc, newest.cert, "phase2"); err != nil {
		return err
	}
	iss := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gvkClusterIssuer.GroupVersion().String(), "kind": gvkClusterIssuer.Kind,
		"metadata": map[string]any{"name": fleet.IssuerCA},
		"spec":     map[string]any{"ca": map[string]any{"secretName": newest.secretName}},
	}}
	if err := e.patchApply(ctx, mc, iss, managerCARotation); err != nil {
		return err
	}
	e.say("management: ClusterIssuer %s signs with Secret %s%s", fleet.IssuerCA, newest.secretName, dry(e.DryRun))
	if err := e.reissue(ctx, mc, newest.certificate); err != nil {
		return err
	}
	if err := e.distribute(ctx, newest.pem); err != nil {
		return fmt.Errorf("phase 2 is not complete: %w; rerun rotate-ca --phase 2", err)
	}
	if err := e.annotate(ctx, mc, newest.cert, "done"); err != nil {
		return err
	}
	if e.DryRun {
		e.say("dry run: nothing was changed")
		return nil
	}
	e.say("CA rotation done: everything trusts %s only.", newest.cert.GetName())
	if old != nil {
		e.say("The old CA is left for manual deletion once nothing uses it: Certificate %s/%s and its Secret %s/%s",
			render.NSCertManager, old.cert.GetName(), render.NSCertManager, old.secretName)
		e.say("  kubectl -n %s delete certificate %s && kubectl -n %s delete secret %s", render.NSCertManager, old.cert.GetName(), render.NSCertManager, old.secretName)
	}
	e.say("fleet apply reads the issuer's CA and the bundle from the cluster (CurrentTrust), so it keeps this rotation; %s holds the bundle for anything outside the clusters", fleetRel(e.Config, e.bundlePath()))
	return nil
}

func dry(d bool) string {
	if d {
		return " (server dry run)"
	}
	return ""
}

// annotate records a rotation's progress on a CA Certificate.
func (e *Env) annotate(ctx context.Context, mc *kube.Client, cert *unstructured.Unstructured, v string) error {
	ri, err := resourceFor(mc, gvkCertificate, render.NSCertManager)
	if err != nil {
		return err
	}
	body := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, rotationAnn, v))
	opts := metav1.PatchOptions{FieldManager: managerCARotation}
	if e.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Patch(ctx, cert.GetName(), types.MergePatchType, body, opts); err != nil {
		return fmt.Errorf("management: Certificate %s: %w", cert.GetName(), err)
	}
	return nil
}

// reissue deletes the Secret of every Certificate the CA issuer signed
// that is not signed by ca yet, so that cert-manager issues it again.
func (e *Env) reissue(ctx context.Context, mc *kube.Client, ca *x509.Certificate) error {
	certs, err := list(ctx, mc, gvkCertificate, "", "")
	if err != nil {
		return err
	}
	n := 0
	for _, c := range certs {
		ref, _, _ := unstructured.NestedStringMap(c.Object, "spec", "issuerRef")
		if ref["name"] != fleet.IssuerCA || ref["kind"] != "ClusterIssuer" {
			continue
		}
		secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
		data, err := secretData(ctx, mc, c.GetNamespace(), secret)
		if err != nil {
			return err
		}
		if data == nil {
			continue // being issued
		}
		if leaf := health.ParseCerts(data["tls.crt"]); len(leaf) > 0 && leaf[0].CheckSignatureFrom(ca) == nil {
			e.say("management: Certificate %s/%s is signed by the new CA already", c.GetNamespace(), c.GetName())
			continue
		}
		if _, err := e.remove(ctx, mc, gvkSecret, c.GetNamespace(), secret); err != nil {
			return err
		}
		e.say("management: cert-manager re-issues Certificate %s/%s with the new CA", c.GetNamespace(), c.GetName())
		n++
	}
	e.say("management: %s to re-issue", plural(n, "certificate", "certificates"))
	return nil
}

// bundlePath is the local ais-edge-ca.crt (the fleet file's
// tls.caBundleFile, else ais-edge-ca.crt next to it).
func (e *Env) bundlePath() string {
	if f := e.Config.Management.TLS.CABundleFile; f != "" {
		return e.Config.Path(f)
	}
	return e.Config.Path("ais-edge-ca.crt")
}

func fleetRel(c *fleet.Config, p string) string {
	if r, ok := strings.CutPrefix(p, c.Dir+"/"); ok {
		return r
	}
	return p
}

// caSecrets are the child clusters' Secrets that hold the CA bundle: the
// edge's, and Vector's (the original's rotation forgot the latter).
var caSecrets = []struct{ ns, name string }{{render.NSIngest, render.CABundleSecret}, {"logging", render.CABundleSecret}}

// distribute writes bundle into the hub's and every site's CA Secrets and
// the local file and rolls their consumers. It goes on past an unreachable site and
// returns every failure.
func (e *Env) distribute(ctx context.Context, bundle []byte) error {
	hash := shortHash(bundle)
	var errs []error
	if err := e.distributeHub(ctx, bundle, hash); err != nil {
		errs = append(errs, err)
		e.say("management: %v", err)
	}
	for i := range e.Config.Sites {
		s := &e.Config.Sites[i]
		if err := e.distributeSite(ctx, s, bundle, hash); err != nil {
			errs = append(errs, err)
			e.say("%s: %v", s.Name, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	path := e.bundlePath()
	if cur, err := readFile(path); err == nil && bytes.Equal(cur, bundle) {
		e.say("local: %s is current", path)
	} else if e.DryRun {
		e.would("write %s (%s)", path, plural(len(health.ParseCerts(bundle)), "certificate", "certificates"))
	} else {
		if err := writeFileAtomic(path, bundle, 0o644); err != nil {
			return err
		}
		e.say("local: wrote %s (%s)", path, plural(len(health.ParseCerts(bundle)), "certificate", "certificates"))
	}
	return nil
}

func (e *Env) distributeSite(ctx context.Context, s *fleet.Site, bundle []byte, hash string) error {
	cc, err := e.child(ctx, s)
	if err != nil {
		return err
	}
	for _, cs := range caSecrets {
		if cs.ns != render.NSIngest {
			ns, err := cc.Get(ctx, gvkNamespace, "", cs.ns)
			if err != nil {
				return err
			}
			if ns == nil {
				continue // no log shipping on this site
			}
		}
		cur, err := secretData(ctx, cc, cs.ns, cs.name)
		if err != nil {
			return err
		}
		// Every key holding certificates gets the bundle (the original's
		// Vector Secret names its key differently from the edge's).
		data := map[string]any{}
		for k, v := range cur {
			if len(health.ParseCerts(v)) > 0 {
				data[k] = bundle
			}
		}
		if len(data) == 0 {
			data["ca.crt"] = bundle
		}
		var o *unstructured.Unstructured
		if cs.ns == render.NSIngest {
			o = render.EdgeCABundle(bundle)
		} else {
			o = &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
				"metadata": map[string]any{"name": cs.name, "namespace": cs.ns}}}
			enc := map[string]any{}
			for k, v := range data {
				enc[k] = encodeB64(v.([]byte))
			}
			o.Object["data"] = enc
		}
		if cs.ns == render.NSIngest {
			if _, err := cc.Apply(ctx, []*unstructured.Unstructured{o}); err != nil {
				return err
			}
		} else {
			if err := e.patchApply(ctx, cc, o, kube.FieldManager); err != nil {
				return err
			}
			e.say("%s: Secret %s/%s holds the bundle%s", s.Name, cs.ns, cs.name, dry(e.DryRun))
		}
	}
	if _, err := e.rollWorkload(ctx, cc, gvkDeployment, render.NSIngest, render.EdgeDeployment, caBundleAnn, hash); err != nil {
		return err
	}
	if _, err := e.rollWorkload(ctx, cc, gvkDaemonSet, "logging", "vector", caBundleAnn, hash); err != nil {
		return err
	}
	return nil
}

// distributeHub writes bundle into the hub's ca-bundle Secret (it trusts
// SeaweedFS's in-cluster certificate by it) and rolls the hub; with the
// observability stack, Loki's too (it keeps its chunks in SeaweedFS over
// the same TLS port and reads its CA file when it starts).
func (e *Env) distributeHub(ctx context.Context, bundle []byte, hash string) error {
	mc, err := e.mgmt()
	if err != nil {
		return err
	}
	if _, err := mc.Apply(ctx, []*unstructured.Unstructured{render.HubCABundle(bundle)}); err != nil {
		return err
	}
	if _, err = e.rollWorkload(ctx, mc, gvkDeployment, render.NSUpload, render.HubDeployment, caBundleAnn, hash); err != nil {
		return err
	}
	if !e.Config.Observability.Enabled {
		return nil
	}
	if _, err := mc.Apply(ctx, []*unstructured.Unstructured{render.LokiCABundle(bundle)}); err != nil {
		return err
	}
	_, err = e.rollWorkload(ctx, mc, gvkDeployment, render.NSMonitoring, "loki", caBundleAnn, hash)
	return err
}

// checkBundles verifies that the hub's and every site's CA Secrets trust
// gen's CA.
func (e *Env) checkBundles(ctx context.Context, g *caGen) error {
	var missing []string
	mc, err := e.mgmt()
	if err != nil {
		return err
	}
	// The hub's bundle, and Loki's with the observability stack.
	hubs := []string{render.NSUpload}
	if e.Config.Observability.Enabled {
		hubs = append(hubs, render.NSMonitoring)
	}
	for _, ns := range hubs {
		data, err := secretData(ctx, mc, ns, render.CABundleSecret)
		if err != nil {
			return err
		}
		if !bundleHas(data["ca.crt"], g.certificate) {
			missing = append(missing, fmt.Sprintf("management: %s/%s lacks %s", ns, render.CABundleSecret, g.cert.GetName()))
		}
	}
	for i := range e.Config.Sites {
		s := &e.Config.Sites[i]
		cc, err := e.child(ctx, s)
		if err != nil {
			return err
		}
		for _, cs := range caSecrets {
			data, err := secretData(ctx, cc, cs.ns, cs.name)
			if err != nil {
				return err
			}
			if data == nil {
				if cs.ns == render.NSIngest {
					missing = append(missing, s.Name+": "+cs.ns+"/"+cs.name+" does not exist")
				}
				continue
			}
			ok := false
			for _, v := range data {
				ok = ok || bundleHas(v, g.certificate)
			}
			if !ok {
				missing = append(missing, fmt.Sprintf("%s: %s/%s lacks %s", s.Name, cs.ns, cs.name, g.cert.GetName()))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return errors.New(strings.Join(missing, "; "))
	}
	return nil
}

// Trust is what the management cluster's CA generations mean for a render:
// the Secret the issuer signs with, and the bundle every edge and Vector
// must trust now (the old and the new CA between the phases of a rotation,
// the current CA alone otherwise).
type Trust struct {
	IssuerSecret string
	Bundle       []byte
	// Rotating names the rotation between its phases ("" when none).
	Rotating string
}

// CurrentTrust reads the CA generations of the management cluster for
// fleet apply, so that a render after a rotation keeps the issuer and the
// bundles where the rotation put them. It returns nil when there is
// nothing to keep: cert-manager or the issuer not installed yet, or the
// first CA the only one and not issued yet.
func CurrentTrust(ctx context.Context, mc *kube.Client) (*Trust, error) {
	if !mc.Served(gvkClusterIssuer) || !mc.Served(gvkCertificate) {
		return nil, nil
	}
	if iss, err := mc.Get(ctx, gvkClusterIssuer, "", fleet.IssuerCA); err != nil || iss == nil {
		return nil, err
	}
	st, err := (&Env{}).readCAs(ctx, mc)
	if err != nil {
		return nil, err
	}
	if st.active.certificate == nil {
		return nil, nil
	}
	t := &Trust{IssuerSecret: st.active.secretName, Bundle: st.active.pem}
	if n := st.newest; n.gen > st.active.gen && n.certificate != nil {
		t.Bundle = append(append([]byte{}, st.active.pem...), n.pem...)
		t.Rotating = fmt.Sprintf("%s → %s (phase 1 done, phase 2 pending)", st.active.cert.GetName(), n.cert.GetName())
	}
	return t, nil
}
