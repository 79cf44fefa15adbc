package join

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// CoreDNS ConfigMap of the child cluster (k0s's names).
const (
	CoreDNSNamespace = "kube-system"
	CoreDNSConfigMap = "coredns"
)

// coreDNS patches the hosts block of the child cluster's Corefile: pods
// on the edge resolve the management names like the node does. Only the
// marked block changes (the original replaced the whole Corefile); CoreDNS
// reloads the Corefile itself (k0s's Corefile has the reload plugin).
func (j *joiner) coreDNS(ctx context.Context) (Outcome, string, error) {
	names := j.managementNames()
	cfg, err := j.childConfig(ctx)
	if err != nil {
		return "", "", err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return "", "", fmt.Errorf("child cluster: %w", err)
	}
	cms := cs.CoreV1().ConfigMaps(CoreDNSNamespace)
	cm, err := cms.Get(ctx, CoreDNSConfigMap, getOpts)
	if isNotFound(err) {
		if names == nil {
			return Skipped, "cloud topology: names come from DNS", nil
		}
		return "", "", fmt.Errorf("the child cluster has no ConfigMap %s/%s yet (k0s deploys CoreDNS with the control plane; is it running?)", CoreDNSNamespace, CoreDNSConfigMap)
	}
	if err != nil {
		return "", "", fmt.Errorf("child cluster: %w", err)
	}
	cur, ok := cm.Data["Corefile"]
	if !ok {
		return "", "", fmt.Errorf("ConfigMap %s/%s has no Corefile", CoreDNSNamespace, CoreDNSConfigMap)
	}
	want, err := patchCorefile(cur, j.c.Management.NodeIP, names)
	if err != nil {
		return "", "", fmt.Errorf("ConfigMap %s/%s: %w", CoreDNSNamespace, CoreDNSConfigMap, err)
	}
	if want == cur {
		if names == nil {
			return Skipped, "cloud topology: names come from DNS", nil
		}
		return Unchanged, "", nil
	}
	// A merge patch of the one key, guarded by the resourceVersion read:
	// a concurrent edit makes it fail instead of being overwritten.
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": cm.ResourceVersion},
		"data":     map[string]any{"Corefile": want},
	})
	if err != nil {
		return "", "", err
	}
	opts := metav1.PatchOptions{FieldManager: "aisedge"}
	if j.opt.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
		j.printf("dry run: %s: would patch ConfigMap %s/%s, Corefile:\n%s", StepCoreDNS, CoreDNSNamespace, CoreDNSConfigMap, lineDiff(cur, want))
	}
	if _, err := cms.Patch(ctx, CoreDNSConfigMap, types.MergePatchType, patch, opts); err != nil {
		return "", "", fmt.Errorf("patching ConfigMap %s/%s: %w", CoreDNSNamespace, CoreDNSConfigMap, err)
	}
	if names == nil {
		return Changed, "removed the aisedge hosts block (cloud topology)", nil
	}
	return Changed, "hosts block: " + strings.Join(names, " ") + " → " + j.c.Management.NodeIP, nil
}

// lineDiff shows the lines only in a (-) and only in b (+), in order; it
// suits a block inserted or removed.
func lineDiff(a, b string) string {
	al, bl := splitLines(a), splitLines(b)
	// Common prefix and suffix.
	p := 0
	for p < len(al) && p < len(bl) && al[p] == bl[p] {
		p++
	}
	s := 0
	for s < len(al)-p && s < len(bl)-p && al[len(al)-1-s] == bl[len(bl)-1-s] {
		s++
	}
	var out strings.Builder
	for _, l := range al[p : len(al)-s] {
		out.WriteString("  - " + strings.TrimRight(l, "\n") + "\n")
	}
	for _, l := range bl[p : len(bl)-s] {
		out.WriteString("  + " + strings.TrimRight(l, "\n") + "\n")
	}
	return strings.TrimRight(out.String(), "\n")
}
