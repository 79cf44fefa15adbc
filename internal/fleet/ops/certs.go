package ops

import (
	"context"
	"crypto/x509"
	"fmt"
	"math"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/aisedge/aisedge/internal/health"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CertRow is one certificate of the fleet.
type CertRow struct {
	// Where: "management", a site, or "local".
	Where string
	// Name: the Certificate (namespace/name) or the bundle's Secret or file.
	Name    string
	Subject string
	// NotAfter is zero when the certificate is not issued (Problem says
	// why).
	NotAfter time.Time
	Problem  string
}

// Days is the number of whole days until NotAfter (negative once expired).
func (r CertRow) Days(now time.Time) int {
	return int(math.Floor(r.NotAfter.Sub(now).Hours() / 24))
}

// Certs lists every cert-manager Certificate of the management cluster
// (from its Secret's tls.crt) and every certificate of the CA bundles
// (each site's ca-bundle Secrets and the local ais-edge-ca.crt). An
// unreachable site is a row saying so.
func (e *Env) Certs(ctx context.Context) ([]CertRow, error) {
	mc, err := e.mgmt()
	if err != nil {
		return nil, err
	}
	certs, err := list(ctx, mc, gvkCertificate, "", "")
	if err != nil {
		return nil, err
	}
	var rows []CertRow
	for _, c := range certs {
		row := CertRow{Where: "management", Name: c.GetNamespace() + "/" + c.GetName()}
		secret, _, _ := unstructured.NestedString(c.Object, "spec", "secretName")
		data, err := secretData(ctx, mc, c.GetNamespace(), secret)
		switch {
		case err != nil:
			row.Problem = err.Error()
		case data == nil:
			row.Problem = "not issued (no Secret " + secret + ")"
		default:
			if x := health.ParseCerts(data["tls.crt"]); len(x) > 0 {
				row.Subject, row.NotAfter = x[0].Subject.CommonName, x[0].NotAfter
				if row.Subject == "" && len(x[0].DNSNames) > 0 {
					row.Subject = x[0].DNSNames[0]
				}
			} else {
				row.Problem = "Secret " + secret + " holds no certificate"
			}
		}
		rows = append(rows, row)
	}
	for i := range e.Config.Sites {
		s := &e.Config.Sites[i]
		cc, err := e.child(ctx, s)
		if err != nil {
			rows = append(rows, CertRow{Where: s.Name, Name: "ca-bundle", Problem: "unreachable"})
			continue
		}
		for _, cs := range caSecrets {
			data, err := secretData(ctx, cc, cs.ns, cs.name)
			if err != nil {
				rows = append(rows, CertRow{Where: s.Name, Name: cs.ns + "/" + cs.name, Problem: err.Error()})
				continue
			}
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				rows = append(rows, bundleRows(s.Name, cs.ns+"/"+cs.name, health.ParseCerts(data[k]))...)
			}
		}
	}
	if b, err := readFile(e.bundlePath()); err == nil {
		rows = append(rows, bundleRows("local", fleetRel(e.Config, e.bundlePath()), health.ParseCerts(b))...)
	}
	return rows, nil
}

func bundleRows(where, name string, certs []*x509.Certificate) []CertRow {
	var out []CertRow
	for _, c := range certs {
		out = append(out, CertRow{Where: where, Name: name, Subject: c.Subject.CommonName, NotAfter: c.NotAfter})
	}
	return out
}

// PrintCerts writes rows as a table.
func (e *Env) PrintCerts(rows []CertRow) {
	tw := tabwriter.NewWriter(e.out(), 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "WHERE\tCERTIFICATE\tSUBJECT\tNOT AFTER\tDAYS LEFT")
	now := e.now()
	for _, r := range rows {
		if r.NotAfter.IsZero() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t%s\n", r.Where, r.Name, dash(r.Subject), r.Problem)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.Where, r.Name, dash(r.Subject), r.NotAfter.UTC().Format("2006-01-02"), r.Days(now))
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
