package ops

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet/render"
)

// managedBy selects what aisedge rendered (fleet apply) or created (the
// operations of this package).
const managedBy = "app.kubernetes.io/managed-by=aisedge"

// UninstallPhrase is what the operator types to confirm an uninstall of
// the management cluster named cluster.
func UninstallPhrase(cluster string) string { return "uninstall aisedge from " + cluster }

// Uninstall removes what aisedge created, found by its labels: on each
// site's child cluster the edge workload (namespaces xnat-ingest and
// logging); on the management cluster the k0smotron Clusters, the
// namespaces xnat-upload, seaweedfs and the sites', the CA Certificates
// (every generation) with their Secrets and the ClusterIssuers. It asks
// first for UninstallPhrase typed as confirmation. It never deletes
// facility backups, nor any host folder (the edges' data folders and
// SeaweedFS's stay on their nodes), nor cert-manager and k0smotron
// themselves; it prints what it removed and what it kept. An unreachable
// site is reported and skipped; running Uninstall again finishes.
func (e *Env) Uninstall(ctx context.Context) error {
	mc, err := e.mgmt()
	if err != nil {
		return err
	}
	var rep report
	for _, s := range e.Config.Sites {
		host := s.NodeIP
		if host == "" {
			host = "its edge node"
		}
		rep.keep("site %s: facility backup %s on %s (never deleted by aisedge)", s.Name, s.FacilityBackupDir, host)
		rep.keep("site %s: data folder %s on %s (remove it by hand once XNAT has every session)", s.Name, s.DataDir, host)
	}
	rep.keep("SeaweedFS's data folder %s on the management node (the bucket's objects)", e.Config.Management.S3.DataDir)
	rep.keep("namespace %s with cert-manager, and k0smotron, ingress-nginx (installed before aisedge)", render.NSCertManager)
	rep.keep("local files: kubeconfig-<site>, %s, the fleet file and its secret files", fleetRel(e.Config, e.bundlePath()))

	// What will go, for the plan and the confirmation.
	clusters, err := list(ctx, mc, gvkK0sCluster, "", managedBy)
	if err != nil {
		return err
	}
	nss, err := list(ctx, mc, gvkNamespace, "", managedBy)
	if err != nil {
		return err
	}
	certs, err := list(ctx, mc, gvkCertificate, render.NSCertManager, managedBy)
	if err != nil {
		return err
	}
	issuers, err := list(ctx, mc, gvkClusterIssuer, "", managedBy)
	if err != nil {
		return err
	}
	var nsNames []string
	for _, n := range nss {
		if n.GetName() != render.NSCertManager {
			nsNames = append(nsNames, n.GetName())
		}
	}
	sort.Strings(nsNames)
	e.say("uninstall from %s: %s, %s (%v), %s, %s, and the edge workload of %s",
		e.ManagementName, plural(len(clusters), "site control plane", "site control planes"),
		plural(len(nsNames), "namespace", "namespaces"), nsNames,
		plural(len(certs), "CA/server Certificate", "CA/server Certificates"), plural(len(issuers), "ClusterIssuer", "ClusterIssuers"),
		plural(len(e.Config.Sites), "site", "sites"))

	if !e.DryRun {
		if e.Confirm == nil {
			return fmt.Errorf("%w: no way to ask for confirmation", ErrNotConfirmed)
		}
		what := fmt.Sprintf("aisedge from %s: every site's edge workload and control plane, SeaweedFS (its identities; its data folder stays), the hub and its delivery records, the CA and issuers (facility backups and host folders are kept)", e.ManagementName)
		if err := e.Confirm.Confirm(what, UninstallPhrase(e.ManagementName)); err != nil {
			return err
		}
	}

	// Edges first, while their control planes still run.
	for i := range e.Config.Sites {
		s := &e.Config.Sites[i]
		cc, err := e.child(ctx, s)
		if err != nil {
			e.say("%s: %v: skipped", s.Name, err)
			rep.keep("site %s: its edge workload (child cluster unreachable; rerun uninstall or stop it on the node)", s.Name)
			continue
		}
		if err := e.removeChild(ctx, cc, s, false, &rep); err != nil {
			return err
		}
	}

	for _, c := range clusters {
		if ok, err := e.remove(ctx, mc, gvkK0sCluster, c.GetNamespace(), c.GetName()); err != nil {
			return err
		} else if ok {
			rep.remove("k0smotron Cluster %s/%s", c.GetNamespace(), c.GetName())
		}
	}
	// The issuers go first, so that cert-manager cannot issue a
	// Certificate's Secret again while it is being removed.
	for _, is := range issuers {
		if ok, err := e.remove(ctx, mc, gvkClusterIssuer, "", is.GetName()); err != nil {
			return err
		} else if ok {
			rep.remove("ClusterIssuer %s", is.GetName())
		}
	}
	for _, c := range certs {
		secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
		if ok, err := e.remove(ctx, mc, gvkCertificate, c.GetNamespace(), c.GetName()); err != nil {
			return err
		} else if ok {
			rep.remove("Certificate %s/%s", c.GetNamespace(), c.GetName())
		}
		if secret == "" {
			continue
		}
		if ok, err := e.remove(ctx, mc, gvkSecret, c.GetNamespace(), secret); err != nil {
			return err
		} else if ok {
			rep.remove("Secret %s/%s", c.GetNamespace(), secret)
		}
	}
	for _, n := range nsNames {
		if ok, err := e.remove(ctx, mc, gvkNamespace, "", n); err != nil {
			return err
		} else if ok {
			rep.remove("namespace %s of the management cluster (and everything in it)", n)
		}
	}
	if err := e.removeShipperRBAC(ctx, mc, "", &rep); err != nil {
		return err
	}
	rep.print(e.out(), e.DryRun)
	return nil
}
