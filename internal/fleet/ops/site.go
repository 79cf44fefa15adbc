package ops

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/fleet/s3iam"
	"github.com/aisedge/aisedge/internal/objstore"
)

// Bucket is the part of the object store that site removal needs, with
// the admin key. objstore.Store satisfies it.
type Bucket interface {
	// List yields every object under prefix (see objstore.Store.List).
	List(ctx context.Context, prefix string) iter.Seq2[objstore.Info, error]
	// Delete removes one object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// pick returns the objects of a rendered cluster that match keep.
func pick(cl *render.Cluster, keep func(o *unstructured.Unstructured) bool) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range cl.Objects() {
		if keep(o) {
			out = append(out, o)
		}
	}
	return out
}

// is matches an object by kind, namespace and name.
func is(o *unstructured.Unstructured, kind, ns, name string) bool {
	return o.GetKind() == kind && o.GetNamespace() == ns && o.GetName() == name
}

// siteListObjects are the management objects of the observability stack
// that list every site: the ingest route's htpasswd (one entry per site)
// and the Prometheus rules (one SiteSilent rule per site), with the
// Deployment whose hash annotation rolls Prometheus when the rules change.
// None is rendered when the stack is off.
func siteListObjects(o *unstructured.Unstructured) bool {
	return is(o, "Secret", render.NSMonitoring, render.PushAuthSecret) || is(o, "ConfigMap", render.NSMonitoring, "prometheus-rules") ||
		is(o, "Deployment", render.NSMonitoring, "prometheus")
}

// s3Objects are SeaweedFS's identities (the s3-config Secret) and the
// Deployment whose hash annotation rolls it when they change.
func s3Objects(o *unstructured.Unstructured) bool {
	return is(o, "Secret", render.NSSeaweedFS, render.S3ConfigSecret) || is(o, "Deployment", render.NSSeaweedFS, "seaweedfs")
}

func (e *Env) site(name string) (*fleet.Site, error) {
	s, ok := e.Config.Site(name)
	if !ok {
		return nil, fmt.Errorf("site %s: %w: add it under sites: in the fleet file first", name, errNoSite)
	}
	return s, nil
}

// AddOptions tune SiteAdd.
type AddOptions struct {
	// Wait for the control plane, SeaweedFS and the edge to be ready.
	Wait bool
}

// SiteAdd applies one site of the fleet file: on the management cluster
// its namespace and k0smotron Cluster, and s3.json with its identity
// (SeaweedFS rolls through its hash annotation); then its child cluster's
// edge workload. Other sites' objects are not touched. Running it again
// changes nothing.
func (e *Env) SiteAdd(ctx context.Context, name string, opt AddOptions) error {
	if _, err := e.site(name); err != nil {
		return err
	}
	m, err := render.Render(e.Config, render.Options{})
	if err != nil {
		return err
	}
	site, ok := m.Site(name)
	if !ok {
		return fmt.Errorf("site %s was not rendered", name)
	}
	mgmt := pick(&m.Management, func(o *unstructured.Unstructured) bool {
		return is(o, "Namespace", "", name) || is(o, "Cluster", name, name) || s3Objects(o) || siteListObjects(o)
	})
	sub := &render.Manifests{
		Management:      render.Cluster{Name: "management", Files: []render.File{{Path: "site-" + name, Objects: mgmt}}},
		Sites:           []render.Cluster{*site},
		CABundleMissing: m.CABundleMissing,
	}
	e.say("site %s: applying its namespace, control plane and S3 identity to the management cluster, then its edge", name)
	err = kube.Deploy(ctx, e.Config, sub, e.Management, kube.Options{
		Out: e.Out, DryRun: e.DryRun, Force: e.Force, Wait: opt.Wait && !e.DryRun, Timeout: e.timeout(),
		Sites: []string{name}, SiteConfig: e.SiteConfig, PollInterval: e.PollInterval,
	})
	if err != nil {
		return fmt.Errorf("site add %s: %w", name, err)
	}
	if e.DryRun {
		e.say("dry run: nothing was changed")
	} else {
		e.say("site %s added; next: aisedge fleet join %s (if its worker has not joined yet)", name, name)
	}
	return nil
}

// RemoveOptions tune SiteRemove.
type RemoveOptions struct {
	// KeepData removes the site's clusters objects only: its staged
	// objects in S3 and its edge data folder stay, and no confirmation is
	// asked.
	KeepData bool
	// SkipChild goes on when the child cluster cannot be reached (its
	// workload, if any still runs, and its data folder are then left).
	SkipChild bool
}

// wipeJob is the name of the Job that empties an edge's data folder.
const wipeJob = "aisedge-wipe-data"

// checkWipe refuses to empty a site's data folder when CheckWipe does.
func checkWipe(s *fleet.Site) error {
	if err := CheckWipe(s.DataDir, s.FacilityBackupDir); err != nil {
		return fmt.Errorf("site %s: %w", s.Name, err)
	}
	return nil
}

// CheckWipe refuses to empty a data folder that holds (or is held by) the
// facility backup folder, or that is not a dedicated absolute folder at
// least two levels deep.
func CheckWipe(dataDir, backupDir string) error {
	d, b := filepath.Clean(dataDir), filepath.Clean(backupDir)
	switch {
	case !filepath.IsAbs(d) || strings.Count(d, "/") < 2:
		return fmt.Errorf("refusing to empty data folder %q: not a dedicated folder (at least two levels deep, e.g. /data/xnat-ingest)", dataDir)
	case d == b || strings.HasPrefix(b+"/", d+"/") || strings.HasPrefix(d+"/", b+"/"):
		return fmt.Errorf("refusing to empty data folder %s: the facility backup %s is inside it (or it is inside the backup); the backup is never deleted, so move one of them", dataDir, backupDir)
	}
	return nil
}

// WipeJob returns the Job that empties a site's data folder on its edge
// node: it mounts that folder and nothing else (never the facility
// backup), and deletes what is inside, not the folder itself (the edge
// pod's hostPath needs it). It runs the SeaweedFS image, the fleet's one
// image with a shell.
func WipeJob(c *fleet.Config, s *fleet.Site) *unstructured.Unstructured {
	dirType := corev1.HostPathDirectory
	labels := map[string]string{"app.kubernetes.io/part-of": "aisedge", "app.kubernetes.io/managed-by": "aisedge", "app": "xnat-ingest", "component": "wipe-data"}
	backoff, ttl := int32(3), int32(3600)
	job := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: render.NSIngest, Name: wipeJob, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyOnFailure,
					AutomountServiceAccountToken: new(false),
					Containers: []corev1.Container{{
						Name:         "wipe",
						Image:        c.Management.Images.SeaweedFS,
						Command:      []string{"/bin/sh", "-c", "find /target -mindepth 1 -delete && echo emptied"},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/target"}},
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: s.DataDir, Type: &dirType}}}},
				},
			},
		},
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(job)
	if err != nil {
		panic(err) // a typed Job always converts
	}
	unstructured.RemoveNestedField(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}
}

// SiteRemove removes a site: its edge workload from the child cluster,
// its S3 identity from s3.json (SeaweedFS rolls), its k0smotron Cluster
// and namespace from the management cluster. Unless KeepData, it first
// asks for the site's name typed as confirmation and then also deletes
// the site's staged/<site>/ objects and empties its edge data folder. The
// facility backup is never deleted. It prints what it removed and kept;
// running it again finishes an interrupted removal.
func (e *Env) SiteRemove(ctx context.Context, name string, opt RemoveOptions) error {
	s, err := e.site(name)
	if err != nil {
		return err
	}
	rest := *e.Config
	rest.Sites = nil
	for _, o := range e.Config.Sites {
		if o.Name != name {
			rest.Sites = append(rest.Sites, o)
		}
	}
	if len(rest.Sites) == 0 {
		return fmt.Errorf("site %s is the fleet's only site: use aisedge fleet uninstall to remove everything", name)
	}
	m, err := render.Render(&rest, render.Options{})
	if err != nil {
		return fmt.Errorf("rendering the fleet without %s: %w", name, err)
	}
	if !opt.KeepData {
		if err := checkWipe(s); err != nil {
			return err
		}
	}
	var rep report
	host := s.NodeIP
	if host == "" {
		host = "the edge node"
	}
	rep.keep("facility backup %s on %s (never deleted by aisedge)", s.FacilityBackupDir, host)
	rep.keep("local files of the site (%s); delete them once you no longer need them", s.Kubeconfig)

	// Confirmation before anything changes.
	if !opt.KeepData && !e.DryRun {
		what := fmt.Sprintf("site %s: its not-yet-delivered objects under s3://%s/%s and everything in %s on %s (the facility backup %s is kept)",
			name, e.Config.Management.S3.Bucket, s3iam.Prefix(name), s.DataDir, host, s.FacilityBackupDir)
		if e.Confirm == nil {
			return fmt.Errorf("%w: no way to ask for confirmation", ErrNotConfirmed)
		}
		if err := e.Confirm.Confirm(what, name); err != nil {
			return err
		}
	}
	mc, err := e.mgmt()
	if err != nil {
		return err
	}

	// 1. The child cluster: stop the edge, empty its data folder, delete
	// its namespaces.
	cc, err := e.child(ctx, s)
	switch {
	case err != nil && !opt.SkipChild:
		return fmt.Errorf("%w (rerun with --skip-child-cluster if it is gone for good)", err)
	case err != nil:
		e.say("%s: %v: skipped", name, err)
		rep.keep("the child cluster's workload and data folder %s (cluster unreachable)", s.DataDir)
	default:
		if err := e.removeChild(ctx, cc, s, !opt.KeepData, &rep); err != nil {
			return err
		}
		if opt.KeepData {
			rep.keep("data folder %s on %s (--keep-data)", s.DataDir, host)
		}
	}

	// 2. The site's staged objects.
	if opt.KeepData {
		rep.keep("objects under s3://%s/%s (--keep-data)", e.Config.Management.S3.Bucket, s3iam.Prefix(name))
	} else if err := e.deleteStaged(ctx, name, &rep); err != nil {
		return err
	}

	// 3. The management cluster: s3.json without the site, then its
	// control plane and namespace.
	e.say("management: s3.json without %s", name)
	objs := pick(&m.Management, s3Objects)
	if _, err := mc.Apply(ctx, objs); err != nil {
		return err
	}
	if err := mc.Wait(ctx, objs, e.timeout()); err != nil {
		return err
	}
	rep.remove("S3 identity %s and its policy %s (SeaweedFS rolled)", name, s3iam.PolicyName(name))
	if objs := pick(&m.Management, siteListObjects); len(objs) > 0 {
		e.say("management: the observability stack's site list without %s", name)
		if _, err := mc.Apply(ctx, objs); err != nil {
			return err
		}
		rep.remove("%s's push credentials and SiteSilent rule (Prometheus rolled)", name)
	}
	if ok, err := e.remove(ctx, mc, gvkK0sCluster, name, name); err != nil {
		return err
	} else if ok {
		rep.remove("k0smotron Cluster %s/%s (the site's control plane)", name, name)
	}
	if ok, err := e.remove(ctx, mc, gvkNamespace, "", name); err != nil {
		return err
	} else if ok {
		rep.remove("namespace %s of the management cluster", name)
	}
	rep.print(e.out(), e.DryRun)
	if !e.DryRun {
		e.say("next: delete site %s from the fleet file, or the next fleet apply adds it again", name)
	}
	return nil
}

// removeChild stops the edge, empties its data folder if wipe, and
// deletes the child cluster's aisedge namespaces.
func (e *Env) removeChild(ctx context.Context, cc *kube.Client, s *fleet.Site, wipe bool, rep *report) error {
	if ok, err := e.remove(ctx, cc, gvkDeployment, render.NSIngest, render.EdgeDeployment); err != nil {
		return err
	} else if ok {
		rep.remove("%s: Deployment %s/%s (the edge)", s.Name, render.NSIngest, render.EdgeDeployment)
	}
	edgePods := "app=xnat-ingest,component=s3-uploader"
	err := e.waitFor(ctx, s.Name+": the edge pod to stop", func() (bool, string, error) {
		pods, err := list(ctx, cc, gvkPod, render.NSIngest, edgePods)
		if err != nil {
			return false, "", err
		}
		return len(pods) == 0, plural(len(pods), "pod left", "pods left"), nil
	})
	if err != nil {
		return err
	}
	if wipe {
		if err := e.wipe(ctx, cc, s, rep); err != nil {
			return err
		}
	}
	for _, ns := range []string{render.NSIngest, "logging"} {
		if ok, err := e.remove(ctx, cc, gvkNamespace, "", ns); err != nil {
			return err
		} else if ok {
			rep.remove("%s: namespace %s of the child cluster (and everything in it)", s.Name, ns)
		}
	}
	return e.removeShipperRBAC(ctx, cc, s.Name+": ", rep)
}

// removeShipperRBAC removes the log shipper's cluster-wide role and
// binding (the observability stack's only objects outside a namespace).
func (e *Env) removeShipperRBAC(ctx context.Context, c *kube.Client, who string, rep *report) error {
	for _, gvk := range []schema.GroupVersionKind{gvkClusterRB, gvkClusterRole} {
		if ok, err := e.remove(ctx, c, gvk, "", render.ShipperClusterRole); err != nil {
			return err
		} else if ok {
			rep.remove("%s%s %s", who, gvk.Kind, render.ShipperClusterRole)
		}
	}
	return nil
}

// wipe runs the WipeJob and waits for it.
func (e *Env) wipe(ctx context.Context, cc *kube.Client, s *fleet.Site, rep *report) error {
	job := WipeJob(e.Config, s)
	live, err := cc.Get(ctx, gvkJob, render.NSIngest, wipeJob)
	if err != nil {
		return err
	}
	if live == nil {
		if _, err := cc.Apply(ctx, []*unstructured.Unstructured{job}); err != nil {
			return fmt.Errorf("%s: emptying %s: %w", s.Name, s.DataDir, err)
		}
	}
	err = e.waitFor(ctx, s.Name+": emptying "+s.DataDir, func() (bool, string, error) {
		j, err := cc.Get(ctx, gvkJob, render.NSIngest, wipeJob)
		if err != nil {
			return false, "", err
		}
		if j == nil {
			return false, "", errors.New("the wipe Job disappeared")
		}
		if ok, _ := jobCondition(j, "Failed"); ok {
			return false, "", fmt.Errorf("%s: emptying %s failed (kubectl -n %s logs job/%s)", s.Name, s.DataDir, render.NSIngest, wipeJob)
		}
		if ok, _ := jobCondition(j, "Complete"); ok {
			return true, "", nil
		}
		n, _, _ := unstructured.NestedInt64(j.Object, "status", "succeeded")
		return n > 0, "Job not complete", nil
	})
	if err != nil {
		return err
	}
	rep.remove("%s: the contents of %s on the edge node", s.Name, s.DataDir)
	return nil
}

func jobCondition(j *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(j.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ && m["status"] == "True" {
			msg, _ := m["message"].(string)
			return true, msg
		}
	}
	return false, ""
}

// deleteStaged deletes the site's objects under staged/<site>/.
func (e *Env) deleteStaged(ctx context.Context, name string, rep *report) error {
	prefix := s3iam.Prefix(name)
	where := "s3://" + e.Config.Management.S3.Bucket + "/" + prefix
	if e.S3 == nil {
		return fmt.Errorf("cannot delete %s: no S3 access (give --s3-endpoint, or --keep-data)", where)
	}
	b, err := e.S3(ctx)
	if err != nil {
		return fmt.Errorf("S3: %w", err)
	}
	n := 0
	for info, err := range b.List(ctx, prefix) {
		if err != nil {
			return fmt.Errorf("listing %s: %w", where, err)
		}
		if e.DryRun {
			n++
			continue
		}
		if err := b.Delete(ctx, info.Key); err != nil {
			return fmt.Errorf("deleting under %s: %w", where, err)
		}
		n++
	}
	if e.DryRun {
		e.say("dry run: would delete %s under %s", plural(n, "object", "objects"), where)
	} else {
		e.say("S3: deleted %s under %s", plural(n, "object", "objects"), where)
	}
	rep.remove("%s under %s", plural(n, "object", "objects"), where)
	return nil
}
