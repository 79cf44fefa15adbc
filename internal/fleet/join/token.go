package join

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/aisedge/aisedge/internal/fault"
)

// JoinTokenRequestGVR is k0smotron's JoinTokenRequest.
var JoinTokenRequestGVR = schema.GroupVersionResource{Group: "k0smotron.io", Version: "v1beta1", Resource: "jointokenrequests"}

var getOpts = metav1.GetOptions{}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

// TokenName is the JoinTokenRequest (and Secret) of a site's worker token,
// in the site's namespace (the original's name).
func TokenName(site string) string { return site + "-token" }

// TokenFile is the local copy of the token, next to the configuration
// (the original's file name).
func TokenFile(site string) string { return "join-token-" + site }

// joinToken reuses a valid token or requests one, and keeps the local
// copy. The original deleted and re-minted the request on every run.
func (j *joiner) joinToken(ctx context.Context) (Outcome, string, error) {
	ns, name := j.s.Name, TokenName(j.s.Name)
	jtrs := j.mdyn.Resource(JoinTokenRequestGVR).Namespace(ns)
	secrets := j.mcs.CoreV1().Secrets(ns)
	jtr, err := jtrs.Get(ctx, name, getOpts)
	switch {
	case isNotFound(err):
		jtr = nil
	case err != nil:
		return "", "", fmt.Errorf("management cluster: JoinTokenRequest %s/%s: %w (is k0smotron installed?)", ns, name, err)
	}
	var raw []byte
	why := "none yet"
	if jtr != nil {
		why = j.reusable(jtr)
		if why == "" {
			sec, err := secrets.Get(ctx, name, getOpts)
			switch {
			case err == nil && len(sec.Data["token"]) > 0:
				raw = sec.Data["token"]
			case err == nil || isNotFound(err):
				// Requested, not issued yet: wait for it below.
			default:
				return "", "", fmt.Errorf("management cluster: Secret %s/%s: %w", ns, name, err)
			}
		}
	}
	outcome, detail := Unchanged, "reused JoinTokenRequest "+ns+"/"+name
	if raw == nil && why == "" {
		detail = "waited for the token of the existing JoinTokenRequest " + ns + "/" + name
	}
	if why != "" {
		outcome, detail = Changed, fmt.Sprintf("requested JoinTokenRequest %s/%s (%s), expiry %s", ns, name, why, j.opt.TokenExpiry)
		if err := j.requestToken(ctx, jtr); err != nil {
			return "", "", err
		}
	}
	if raw == nil {
		if j.opt.DryRun {
			j.token = []byte("(join token)")
			return outcome, detail + "; the token is issued by k0smotron after the request", nil
		}
		if raw, err = j.waitToken(ctx); err != nil {
			return "", "", err
		}
	}
	tok, err := j.rewriteToken(raw)
	if err != nil {
		return "", "", fmt.Errorf("the token in Secret %s/%s: %w", ns, name, err)
	}
	j.token = tok
	wrote, err := j.writeLocalCopy(tok)
	if err != nil {
		return "", "", err
	}
	if wrote {
		outcome = Changed
		detail += "; wrote " + j.c.Path(TokenFile(j.s.Name))
	}
	return outcome, detail, nil
}

// reusable says why an existing request cannot be reused ("" when it
// can).
func (j *joiner) reusable(jtr *unstructured.Unstructured) string {
	ref, _, _ := unstructured.NestedStringMap(jtr.Object, "spec", "clusterRef")
	if ref["name"] != j.s.Name || ref["namespace"] != j.s.Name {
		return fmt.Sprintf("the existing one is for cluster %s/%s", ref["namespace"], ref["name"])
	}
	if role, _, _ := unstructured.NestedString(jtr.Object, "spec", "role"); role != "" && role != "worker" {
		return "the existing one is for a " + role
	}
	if jtr.GetDeletionTimestamp() != nil {
		return "the existing one is being deleted"
	}
	exp, _, _ := unstructured.NestedString(jtr.Object, "spec", "expiry")
	d, err := time.ParseDuration(exp)
	if exp == "" {
		d, err = 0, nil
	}
	if err != nil {
		return fmt.Sprintf("the existing one has an unreadable expiry %q", exp)
	}
	if d == 0 {
		return "" // k0s tokens with expiry 0 do not expire
	}
	ends := jtr.GetCreationTimestamp().Add(d)
	if !j.opt.Now().Add(j.opt.TokenMargin).Before(ends) {
		return "the existing one expired at " + ends.UTC().Format(time.RFC3339) + " or is about to"
	}
	return ""
}

// requestToken replaces old (if any) with a new request.
func (j *joiner) requestToken(ctx context.Context, old *unstructured.Unstructured) error {
	ns, name := j.s.Name, TokenName(j.s.Name)
	jtrs := j.mdyn.Resource(JoinTokenRequestGVR).Namespace(ns)
	if old != nil {
		if j.opt.DryRun {
			j.printf("dry run: %s: would delete JoinTokenRequest %s/%s and Secret %s/%s", StepToken, ns, name, ns, name)
		} else {
			// Deleting the request invalidates its token (k0smotron's
			// finalizer); the Secret goes with it, deleted here too in
			// case no garbage collector runs.
			if err := jtrs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting JoinTokenRequest %s/%s: %w", ns, name, err)
			}
			if err := j.mcs.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting Secret %s/%s: %w", ns, name, err)
			}
			if err := j.waitGone(ctx, name); err != nil {
				return err
			}
		}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k0smotron.io/v1beta1",
		"kind":       "JoinTokenRequest",
		"metadata": map[string]any{"name": name, "namespace": ns,
			"labels": map[string]any{"app.kubernetes.io/managed-by": "aisedge"}},
		"spec": map[string]any{
			"clusterRef": map[string]any{"name": j.s.Name, "namespace": ns},
			"expiry":     j.opt.TokenExpiry.String(),
			"role":       "worker",
		},
	}}
	opts := metav1.CreateOptions{FieldManager: "aisedge", FieldValidation: "Strict"}
	if j.opt.DryRun {
		j.printf("dry run: %s: would create JoinTokenRequest %s/%s (cluster %s, role worker, expiry %s)", StepToken, ns, name, j.s.Name, j.opt.TokenExpiry)
		if old != nil {
			return nil // the server would refuse: the old one still exists
		}
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := jtrs.Create(ctx, u, opts); err != nil {
		return fmt.Errorf("creating JoinTokenRequest %s/%s: %w", ns, name, err)
	}
	return nil
}

// waitGone waits until a deleted request has left (k0smotron's finalizer
// invalidates its token first).
func (j *joiner) waitGone(ctx context.Context, name string) error {
	jtrs := j.mdyn.Resource(JoinTokenRequestGVR).Namespace(j.s.Name)
	deadline := time.Now().Add(j.opt.Timeout)
	for {
		_, err := jtrs.Get(ctx, name, getOpts)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the expired JoinTokenRequest %s/%s is still there after %s (is the k0smotron controller running?)", j.s.Name, name, j.opt.Timeout)
		}
		if err := fault.Sleep(ctx, j.opt.PollInterval); err != nil {
			return err
		}
	}
}

// waitToken waits for k0smotron to write the token Secret.
func (j *joiner) waitToken(ctx context.Context) ([]byte, error) {
	ns, name := j.s.Name, TokenName(j.s.Name)
	deadline := time.Now().Add(j.opt.Timeout)
	for {
		sec, err := j.mcs.CoreV1().Secrets(ns).Get(ctx, name, getOpts)
		switch {
		case err == nil && len(sec.Data["token"]) > 0:
			return sec.Data["token"], nil
		case err != nil && !isNotFound(err):
			return nil, fmt.Errorf("management cluster: Secret %s/%s: %w", ns, name, err)
		}
		if time.Now().After(deadline) {
			status := ""
			if jtr, err := j.mdyn.Resource(JoinTokenRequestGVR).Namespace(ns).Get(ctx, name, getOpts); err == nil {
				if s, _, _ := unstructured.NestedString(jtr.Object, "status", "reconciliationStatus"); s != "" {
					status = "; its status: " + s
				}
			}
			return nil, fmt.Errorf("k0smotron did not issue the token of JoinTokenRequest %s/%s within %s (is the site's control plane running?%s)", ns, name, j.opt.Timeout, status)
		}
		if err := fault.Sleep(ctx, j.opt.PollInterval); err != nil {
			return nil, err
		}
	}
}

// rewriteToken points the token's kubeconfig at the site's API host
// through the management ingress, https://<apiHost>:<ingressPort>, as
// k0smotron does in ingress mode (the original rewrote it by hand). The
// worker resolves the name through /etc/hosts on-prem (step hosts) or
// DNS in the cloud; its bootstrap does not carry a TLS server name, so
// the address form of kube.SiteKubeconfig is not used here. A token that
// already points there is returned as it is.
func (j *joiner) rewriteToken(tok []byte) ([]byte, error) {
	kcBytes, err := DecodeToken(tok)
	if err != nil {
		return nil, err
	}
	kc, err := clientcmd.Load(kcBytes)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	if len(kc.Clusters) == 0 {
		return nil, fmt.Errorf("the kubeconfig names no cluster")
	}
	server := "https://" + net.JoinHostPort(j.s.APIHost, strconv.Itoa(j.c.Management.IngressPort))
	same := true
	for _, cl := range kc.Clusters {
		if cl.Server != server || cl.TLSServerName != "" {
			same = false
		}
		cl.Server, cl.TLSServerName = server, ""
	}
	if same {
		return bytes.TrimSpace(tok), nil
	}
	out, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	return EncodeToken(out)
}

// DecodeToken returns the kubeconfig inside a k0s join token (base64 of
// gzip).
func DecodeToken(tok []byte) ([]byte, error) {
	gz, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(tok)))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %w", err)
	}
	return io.ReadAll(r)
}

// EncodeToken makes a k0s join token of a kubeconfig.
func EncodeToken(kubeconfig []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(kubeconfig); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(b.Bytes())), nil
}

// writeLocalCopy keeps join-token-<site> (0600) current; it reports
// whether it wrote.
func (j *joiner) writeLocalCopy(tok []byte) (bool, error) {
	path := j.c.Path(TokenFile(j.s.Name))
	want := append(append([]byte{}, tok...), '\n')
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, want) {
		if st, err := os.Stat(path); err == nil && st.Mode().Perm() == 0o600 {
			return false, nil
		}
	}
	if j.opt.DryRun {
		j.printf("dry run: %s: would write %s (0600)", StepToken, path)
		return true, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return false, fmt.Errorf("local token copy: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(want); err != nil {
		tmp.Close()
		return false, fmt.Errorf("local token copy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("local token copy: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("local token copy: %w", err)
	}
	return true, nil
}
