package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
)

// StatusSource fetches the status documents (/api/status of
// internal/api) of the hub and of the edges.
type StatusSource interface {
	// Hub returns the hub's status document, or an error if it cannot be
	// reached.
	Hub(ctx context.Context) ([]byte, error)
	// Edge returns the status document of a site's edge, or an error if
	// it cannot be reached.
	Edge(ctx context.Context, site *fleet.Site) ([]byte, error)
}

// Pods whose status documents ProxySource reads, and their HTTP ports.
const (
	hubSelector  = "app=xnat-ingest,component=upload"
	edgeSelector = "app=xnat-ingest,component=s3-uploader"
	hubPort      = "8081"
	edgePort     = "8080"
)

// ProxySource reaches the hub and the edges through their clusters' API
// servers (the pod proxy), so that no port needs to be open to them.
type ProxySource struct{ Env *Env }

// Hub implements StatusSource.
func (p ProxySource) Hub(ctx context.Context) ([]byte, error) {
	if p.Env.Management == nil {
		return nil, fmt.Errorf("no management cluster")
	}
	return p.Env.proxyGet(ctx, "management", p.Env.Management, render.NSUpload, hubSelector, hubPort)
}

// Edge implements StatusSource.
func (p ProxySource) Edge(ctx context.Context, s *fleet.Site) ([]byte, error) {
	cfg, err := p.Env.siteRESTConfig(s)
	if err != nil {
		return nil, err
	}
	return p.Env.proxyGet(ctx, s.Name, cfg, render.NSIngest, edgeSelector, edgePort)
}

// proxyGet reads /api/status of the first ready pod matching selector
// through the API server's pod proxy.
func (e *Env) proxyGet(ctx context.Context, name string, cfg *rest.Config, ns, selector, port string) ([]byte, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	c, err := e.client(name, cfg)
	if err != nil {
		return nil, err
	}
	pods, err := list(ctx, c, gvkPod, ns, selector)
	if err != nil {
		return nil, err
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	for i := range pods {
		if p, err := toPod(&pods[i]); err != nil || !podReady(p) {
			continue
		}
		u := strings.TrimRight(cfg.Host, "/") + "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(pods[i].GetName()+":"+port) + "/proxy/api/status"
		return URLSource{Client: hc}.getURL(ctx, u)
	}
	return nil, fmt.Errorf("no ready pod %s in %s", selector, ns)
}

// URLSource reads the status documents over HTTP from base URLs (a
// port-forward, or test servers).
type URLSource struct {
	HubURL   string
	EdgeURLs map[string]string // by site name
	Client   *http.Client
}

// Hub implements StatusSource.
func (u URLSource) Hub(ctx context.Context) ([]byte, error) { return u.get(ctx, u.HubURL) }

// Edge implements StatusSource.
func (u URLSource) Edge(ctx context.Context, s *fleet.Site) ([]byte, error) {
	url, ok := u.EdgeURLs[s.Name]
	if !ok {
		return nil, fmt.Errorf("no status URL for %s", s.Name)
	}
	return u.get(ctx, url)
}

func (u URLSource) get(ctx context.Context, base string) ([]byte, error) {
	return u.getURL(ctx, strings.TrimRight(base, "/")+"/api/status")
}

func (u URLSource) getURL(ctx context.Context, url string) ([]byte, error) {
	c := u.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	return b, nil
}

// SiteStatus is one row of fleet status.
type SiteStatus struct {
	Site string
	// Nodes is "<ready>/<total> ready", or why it is unknown.
	Nodes string
	// EdgePod is "ready", "not ready" or "none".
	EdgePod string
	// LastUpload is the hub's last delivery of the site's sessions
	// (zero: none, or the hub is unreachable).
	LastUpload time.Time
	// Queue is the number of shipments waiting on the edge (-1: unknown).
	Queue int
	// Health is "ok" or what is wrong.
	Health string
}

// HubStatus is the hub's line of fleet status.
type HubStatus struct {
	Health      string
	Pending     int
	DeadLetters int
}

// hubDoc and edgeDoc are the parts of the status documents shown.
type hubDoc struct {
	Ready bool `json:"ready"`
	Hub   struct {
		Pending     []json.RawMessage `json:"pending"`
		DeadLetters []json.RawMessage `json:"deadLetters"`
		Edges       map[string]struct {
			LastDelivery time.Time `json:"lastDelivery"`
		} `json:"edges"`
		Error string `json:"error"`
	} `json:"hub"`
}

type edgeDoc struct {
	Ready bool `json:"ready"`
	Edge  struct {
		Queued     []json.RawMessage `json:"queuedShipments"`
		Quarantine []json.RawMessage `json:"quarantine"`
		LastError  string            `json:"lastError"`
		Error      string            `json:"error"`
	} `json:"edge"`
}

// Status collects one row per site and the hub's line. Nothing that
// cannot be reached stops it: the row says so.
func (e *Env) Status(ctx context.Context, src StatusSource) ([]SiteStatus, HubStatus) {
	var hub HubStatus
	var hd hubDoc
	if b, err := src.Hub(ctx); err != nil {
		hub.Health = "unreachable: " + short(err)
	} else if err := json.Unmarshal(b, &hd); err != nil {
		hub.Health = "bad status document: " + short(err)
	} else {
		hub.Pending, hub.DeadLetters = len(hd.Hub.Pending), len(hd.Hub.DeadLetters)
		switch {
		case hd.Hub.Error != "":
			hub.Health = "error: " + hd.Hub.Error
		case !hd.Ready:
			hub.Health = "not ready"
		case hub.DeadLetters > 0:
			hub.Health = plural(hub.DeadLetters, "dead-lettered session", "dead-lettered sessions")
		default:
			hub.Health = "ok"
		}
	}
	var rows []SiteStatus
	for i := range e.Config.Sites {
		s := &e.Config.Sites[i]
		row := SiteStatus{Site: s.Name, Queue: -1, LastUpload: hd.Hub.Edges[s.Name].LastDelivery}
		if cc, err := e.child(ctx, s); err != nil {
			row.Nodes, row.EdgePod = "unreachable", "-"
		} else {
			row.Nodes, row.EdgePod = e.nodesAndPod(ctx, cc)
		}
		var ed edgeDoc
		if b, err := src.Edge(ctx, s); err != nil {
			row.Health = "unreachable: " + short(err)
		} else if err := json.Unmarshal(b, &ed); err != nil {
			row.Health = "bad status document: " + short(err)
		} else {
			row.Queue = len(ed.Edge.Queued)
			var probs []string
			if !ed.Ready {
				probs = append(probs, "not ready")
			}
			if ed.Edge.Error != "" {
				probs = append(probs, "error: "+ed.Edge.Error)
			}
			if ed.Edge.LastError != "" {
				probs = append(probs, "last error: "+ed.Edge.LastError)
			}
			if n := len(ed.Edge.Quarantine); n > 0 {
				probs = append(probs, fmt.Sprintf("%d quarantined", n))
			}
			row.Health = "ok"
			if len(probs) > 0 {
				row.Health = strings.Join(probs, "; ")
			}
		}
		rows = append(rows, row)
	}
	return rows, hub
}

// nodesAndPod reads the child cluster's Node readiness and the edge pod's.
func (e *Env) nodesAndPod(ctx context.Context, cc *kube.Client) (nodes, pod string) {
	ns, err := list(ctx, cc, gvkNode, "", "")
	if err != nil {
		nodes = "unknown: " + short(err)
	} else {
		ready := 0
		for i := range ns {
			if ok, _ := kube.Ready(&ns[i]); ok && nodeReady(&ns[i]) {
				ready++
			}
		}
		nodes = fmt.Sprintf("%d/%d ready", ready, len(ns))
	}
	pods, err := list(ctx, cc, gvkPod, render.NSIngest, edgeSelector)
	switch {
	case err != nil:
		return nodes, "unknown"
	case len(pods) == 0:
		return nodes, "none"
	}
	for i := range pods {
		if p, err := toPod(&pods[i]); err == nil && podReady(p) {
			return nodes, "ready"
		}
	}
	return nodes, "not ready"
}

// nodeReady reports a Node's Ready condition.
func nodeReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func toPod(u *unstructured.Unstructured) (*corev1.Pod, error) {
	var p corev1.Pod
	err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p)
	return &p, err
}

// PrintStatus writes the status table.
func (e *Env) PrintStatus(rows []SiteStatus, hub HubStatus) {
	now := e.now()
	tw := tabwriter.NewWriter(e.out(), 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tNODES\tEDGE POD\tLAST UPLOAD\tQUEUE\tHEALTH")
	for _, r := range rows {
		last := "never"
		if !r.LastUpload.IsZero() {
			last = r.LastUpload.UTC().Format("2006-01-02 15:04") + " (" + age(now.Sub(r.LastUpload)) + " ago)"
		}
		q := "?"
		if r.Queue >= 0 {
			q = fmt.Sprint(r.Queue)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Site, r.Nodes, r.EdgePod, last, q, r.Health)
	}
	tw.Flush()
	fmt.Fprintf(e.out(), "hub: %s (%d pending, %d dead-lettered)\n", hub.Health, hub.Pending, hub.DeadLetters)
}

func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// short keeps the first line of an error, at most 80 characters.
func short(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}
