package render

import (
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// What a cluster operator expects of every workload aisedge renders, beside
// the security context (restricted()): the recommended app.kubernetes.io
// labels, CPU and memory requests and limits, and a startup probe so that
// a slow start (a long spool replay) is not killed by the liveness probe.

// app names a workload for the app.kubernetes.io labels.
type app struct {
	name      string // aisedge-edge, aisedge-hub, seaweedfs
	component string // edge, hub, object-store
	instance  string // the site's name, or "management"
	image     string // its version label comes from the image reference
}

// labels are the recommended labels (metadata and pod template only: a
// Deployment's selector cannot change, so it keeps the original's).
func (a app) labels() map[string]string {
	l := map[string]string{
		"app.kubernetes.io/name":      a.name,
		"app.kubernetes.io/instance":  a.instance,
		"app.kubernetes.io/component": a.component,
	}
	if v := imageVersion(a.image); v != "" {
		l["app.kubernetes.io/version"] = v
	}
	return l
}

var labelValueRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$`)

// imageVersion is the version label of an image reference: its tag, or
// the first 12 digits of its digest when it has no tag ("" when neither
// makes a label value).
func imageVersion(ref string) string {
	name, digest, _ := strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		if tag := name[i+1:]; labelValueRE.MatchString(tag) {
			return tag
		}
	}
	if hex, ok := strings.CutPrefix(digest, "sha256:"); ok && len(hex) >= 12 {
		return "sha256-" + hex[:12]
	}
	return ""
}

// label adds the app's labels to a Deployment and its pods.
func (a app) label(d *appsv1.Deployment) {
	for k, v := range a.labels() {
		d.Labels[k] = v
		d.Spec.Template.Labels[k] = v
	}
}

// resources are a container's requests and limits. No CPU limit is as
// common as one; aisedge sets one so that a busy de-identification cannot
// starve the node's other pods, and leaves memory headroom for large
// studies (the edge and hub stream files, but parse a whole instance).
func resources(cpuReq, memReq, cpuLim, memLim string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse(memReq)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLim), corev1.ResourceMemory: resource.MustParse(memLim)},
	}
}

// startupProbe gives a container up to 5 minutes to start (a restarted
// edge replays its spool first) before the liveness probe takes over.
func startupProbe(path, port string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(port)}},
		PeriodSeconds: 5, FailureThreshold: 60,
	}
}

// Pod Security Admission levels (pod-security.kubernetes.io) of the
// namespaces aisedge owns.
const (
	psaRestricted = "restricted"
	psaPrivileged = "privileged"
	// PodSecurityJustification explains, on a namespace that cannot
	// enforce the restricted level, why not.
	PodSecurityJustification = "aisedge.io/pod-security-justification"
)

// podSecurity labels a namespace with an enforced level; warnings and
// audit stay at restricted, so anything beyond what the justification
// names is reported.
func podSecurity(level string) map[string]string {
	return map[string]string{
		"pod-security.kubernetes.io/enforce": level,
		"pod-security.kubernetes.io/warn":    psaRestricted,
		"pod-security.kubernetes.io/audit":   psaRestricted,
	}
}

// merge returns the union of label maps (later ones win).
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
