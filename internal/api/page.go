package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The status page (GET /) renders the same status parts as /api/status,
// plus the process's own aisedge_* counters, as one server-rendered HTML
// page: no scripts, no external assets, refreshed by the browser every 5 s.
//
// Parts are recognised by shape, not by name, so that this package needs
// neither internal/edge nor internal/hub (they, or the commands wiring
// them, import api): a part with "openStudies" or "queuedShipments" is an
// edge, one with "deadLetters" or "destination" a hub, one with only
// "error" failed, anything else is shown as indented JSON. The view
// structs below mirror the JSON of edge.Status and hub.Status; the test
// renders real values of those types so that a renamed field fails it.

// pageRows caps each list on the page; the rest is counted.
const pageRows = 100

type edgeView struct {
	Part       string           `json:"-"`
	Edge       string           `json:"edge"`
	Listen     string           `json:"listen"`
	Open       []openStudyView  `json:"openStudies"`
	Queued     []shipmentView   `json:"queuedShipments"`
	Quarantine []quarantineView `json:"quarantine"`
	LastUpload time.Time        `json:"lastUpload"`
	LastError  string           `json:"lastError"`
	Received   *receivedView    `json:"received"`
	Sessions   []progressView   `json:"sessions"`
	Shipped    []shippedView    `json:"shipped"`

	// Totals before the lists were cut to pageRows, and the queue by
	// stage.
	OpenTotal, QueuedTotal, QuarantineTotal int
	Pending, Held                           int
	Stages                                  []stageCount
}

// openStudyView mirrors edge.StudyStatus. Its ages are time.Duration
// values (JSON integers of nanoseconds, despite the field names), as the
// CLI also reads them.
type openStudyView struct {
	Session string  `json:"session"`
	Pending int     `json:"pending"`
	Age     seconds `json:"ageSeconds"`
	Idle    seconds `json:"idleSeconds"`
}

// shipmentView mirrors spool.Shipment.
type shipmentView struct {
	Project    string    `json:"project"`
	Subject    string    `json:"subject"`
	Session    string    `json:"session"`
	Generation int       `json:"generation"`
	State      string    `json:"state"`
	StagedAt   time.Time `json:"stagedAt"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"lastError"`
	Held       bool      `json:"held"`
}

// Name is the XNAT label of the shipment's session.
func (s shipmentView) Name() string {
	return strings.Trim(s.Project+"."+s.Subject+"."+s.Session, ".")
}

// quarantineView mirrors edge.QuarantineEntry.
type quarantineView struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"receivedAt"`
	CalledAET  string    `json:"calledAET"`
	CallingAET string    `json:"callingAET"`
	Reasons    []string  `json:"reasons"`
	Requeues   int       `json:"requeues"`
}

// receivedView mirrors dimse.MetricsSnapshot (no JSON tags there).
type receivedView struct {
	AssociationsAccepted, AssociationsRejected, AssociationsAborted int64
	Echoes, StoresOK, StoresFailed, BytesReceived, Active           int64
}

type stageCount struct {
	Stage string
	N     int
}

type hubView struct {
	Part        string           `json:"-"`
	Destination string           `json:"destination"`
	Pending     []sealedView     `json:"pending"`
	DeadLetters []deadLetterView `json:"deadLetters"`
	// Recent is the hub's latest deliveries (page_sessions.go joins them
	// with the edge's seals).
	Recent []deliveryView `json:"recentDeliveries"`
	// Paused mirrors hub.Pause: set while XNAT refuses the credentials.
	Paused *pauseView `json:"paused"`

	PendingTotal, DeadTotal, RecentTotal int
}

// pauseView mirrors hub.Pause.
type pauseView struct {
	Since    time.Time `json:"since"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
}

// sealedView mirrors hub.Sealed.
type sealedView struct {
	Base       string `json:"base"`
	Generation int    `json:"generation"`
}

// deadLetterView mirrors hub.DeadLetter.
type deadLetterView struct {
	Base       string    `json:"base"`
	Generation int       `json:"generation"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// deliveryView mirrors hub.Delivery, one entry of "recentDeliveries".
type deliveryView struct {
	Base       string    `json:"base"`
	Generation int       `json:"generation"`
	At         time.Time `json:"at"`
	Bytes      int64     `json:"bytes"`
	Edge       string    `json:"edge"`
	Session    string    `json:"session"`
	Files      int       `json:"files"`
	StagedAt   time.Time `json:"stagedAt"`
	StartedAt  time.Time `json:"startedAt"`
	Series     []struct {
		Scan     string `json:"scan"`
		Modality string `json:"modality"`
		Files    int    `json:"files"`
		Bytes    int64  `json:"bytes"`
	} `json:"series"`
}

type otherPart struct {
	Name, JSON, Error string
}

type card struct {
	Label, Value string
	Warn         bool
}

type counterRow struct {
	Name, Labels, Value string
}

type banner struct {
	Class, Title string
	Items        []string
}

type pageData struct {
	Now time.Time
	// Actions: the operator actions are served on this port (a bearer
	// token); the page then links each quarantine entry and dead letter
	// to a confirmation form.
	Actions  bool
	Ready    bool
	Started  bool
	Checks   []namedResult
	Banner   banner
	Cards    []card
	Edges    []*edgeView
	Hubs     []*hubView
	Failed   []otherPart
	Other    []otherPart
	Counters []counterRow
	// Sessions: in flight and delivered, joined from the edge and hub
	// parts (page_sessions.go).
	Sessions sessionsView
}

// buildPage turns the status document and the gathered metric families
// into the page's data.
func buildPage(doc map[string]any, fams []*dto.MetricFamily) *pageData {
	p := &pageData{}
	p.Now, _ = doc["time"].(time.Time)
	if p.Now.IsZero() {
		p.Now = time.Now().UTC()
	}
	p.Ready, _ = doc["ready"].(bool)
	p.Started, _ = doc["started"].(bool)
	if cs, ok := doc["checks"].(map[string]CheckResult); ok {
		for name, c := range cs {
			p.Checks = append(p.Checks, namedResult{name, c})
		}
		sort.Slice(p.Checks, func(i, j int) bool { return p.Checks[i].Name < p.Checks[j].Name })
	}
	names := make([]string, 0, len(doc))
	for name := range doc {
		if name != "time" && name != "ready" && name != "started" && name != "checks" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		raw, err := json.Marshal(doc[name])
		if err != nil {
			p.Failed = append(p.Failed, otherPart{Name: name, Error: err.Error()})
			continue
		}
		var keys map[string]json.RawMessage
		if json.Unmarshal(raw, &keys) != nil {
			p.Other = append(p.Other, otherPart{Name: name, JSON: indent(raw)})
			continue
		}
		has := func(k string) bool { _, ok := keys[k]; return ok }
		switch {
		case len(keys) == 1 && has("error"):
			var e string
			json.Unmarshal(keys["error"], &e)
			p.Failed = append(p.Failed, otherPart{Name: name, Error: e})
		case has("openStudies") || has("queuedShipments"):
			e := &edgeView{Part: name}
			if err := json.Unmarshal(raw, e); err != nil {
				p.Failed = append(p.Failed, otherPart{Name: name, Error: "cannot read edge status: " + err.Error()})
				continue
			}
			e.prepare()
			p.Edges = append(p.Edges, e)
		case has("deadLetters") || has("destination"):
			h := &hubView{Part: name}
			if err := json.Unmarshal(raw, h); err != nil {
				p.Failed = append(p.Failed, otherPart{Name: name, Error: "cannot read hub status: " + err.Error()})
				continue
			}
			h.prepare()
			p.Hubs = append(p.Hubs, h)
		default:
			p.Other = append(p.Other, otherPart{Name: name, JSON: indent(raw)})
		}
	}
	p.Sessions = buildSessions(p.Edges, p.Hubs)
	var certSoon []string
	p.Counters, certSoon = counters(fams)
	p.Banner = p.banner(certSoon)
	p.Cards = p.cards()
	return p
}

func indent(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "", "  ") != nil {
		return string(raw)
	}
	return b.String()
}

func (e *edgeView) prepare() {
	e.OpenTotal, e.QueuedTotal, e.QuarantineTotal = len(e.Open), len(e.Queued), len(e.Quarantine)
	by := map[string]int{}
	for _, s := range e.Open {
		e.Pending += s.Pending
	}
	for _, s := range e.Queued {
		by[s.State]++
		if s.Held {
			e.Held++
		}
	}
	// The life cycle's order first, then anything unexpected.
	for _, st := range []string{"staged", "uploaded", "sealed"} {
		if by[st] > 0 {
			e.Stages = append(e.Stages, stageCount{st, by[st]})
			delete(by, st)
		}
	}
	var rest []string
	for st := range by {
		rest = append(rest, st)
	}
	sort.Strings(rest)
	for _, st := range rest {
		e.Stages = append(e.Stages, stageCount{st, by[st]})
	}
	// Oldest open study first; held shipments, then oldest first; newest
	// quarantine entry first.
	sort.SliceStable(e.Open, func(i, j int) bool { return e.Open[i].Age > e.Open[j].Age })
	sort.SliceStable(e.Queued, func(i, j int) bool {
		a, b := e.Queued[i], e.Queued[j]
		if a.Held != b.Held {
			return a.Held
		}
		return a.StagedAt.Before(b.StagedAt)
	})
	sort.SliceStable(e.Quarantine, func(i, j int) bool { return e.Quarantine[i].ReceivedAt.After(e.Quarantine[j].ReceivedAt) })
	e.Open, e.Queued, e.Quarantine = capRows(e.Open), capRows(e.Queued), capRows(e.Quarantine)
}

func (h *hubView) prepare() {
	h.PendingTotal, h.DeadTotal, h.RecentTotal = len(h.Pending), len(h.DeadLetters), len(h.Recent)
	sort.SliceStable(h.DeadLetters, func(i, j int) bool { return h.DeadLetters[i].At.After(h.DeadLetters[j].At) })
	sort.SliceStable(h.Recent, func(i, j int) bool { return h.Recent[i].At.After(h.Recent[j].At) })
	h.Pending, h.DeadLetters, h.Recent = capRows(h.Pending), capRows(h.DeadLetters), capRows(h.Recent)
}

func capRows[T any](s []T) []T {
	if len(s) > pageRows {
		return s[:pageRows]
	}
	return s
}

// certWarnDays is when the banner starts to mention a certificate (the
// CertificateExpiringSoon alert uses the same threshold).
const certWarnDays = 14

func (p *pageData) banner(certSoon []string) banner {
	var items []string
	for _, f := range p.Failed {
		items = append(items, fmt.Sprintf("status of %q unavailable: %s", f.Name, f.Error))
	}
	var down []string
	for _, c := range p.Checks {
		if !c.OK {
			down = append(down, c.Name)
			items = append(items, c.Error)
		}
	}
	if !p.Started {
		return banner{Class: "bad", Title: "Not ready: the DICOM receiver is not listening yet", Items: items}
	}
	if len(down) > 0 {
		return banner{Class: "bad", Title: "Not ready: " + strings.Join(down, ", ") + " unreachable", Items: items}
	}
	if !p.Ready {
		return banner{Class: "bad", Title: "Not ready", Items: items}
	}
	if len(p.Failed) > 0 {
		return banner{Class: "bad", Title: "Ready, but part of the status is unavailable", Items: items}
	}
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	for _, e := range p.Edges {
		if e.Held > 0 {
			items = append(items, plural(e.Held, "shipment held", "shipments held")+" after a permanent failure (operator action needed)")
		}
		if e.QuarantineTotal > 0 {
			items = append(items, plural(e.QuarantineTotal, "instance", "instances")+" in quarantine")
		}
		if e.LastError != "" {
			items = append(items, "last upload error: "+e.LastError)
		}
	}
	for _, h := range p.Hubs {
		if h.Paused != nil {
			items = append(items, "hub delivery paused: the destination refuses the credentials (fix the account or the secret files; it resumes by itself)")
		}
		if h.DeadTotal > 0 {
			items = append(items, plural(h.DeadTotal, "dead letter", "dead letters")+" at the hub (operator action needed)")
		}
	}
	items = append(items, certSoon...)
	if len(items) > 0 {
		return banner{Class: "warn", Title: "Ready, needs attention", Items: items}
	}
	return banner{Class: "ok", Title: "Ready: all clear"}
}

func (p *pageData) cards() []card {
	var cs []card
	n := func(label string, v int, warn bool) { cs = append(cs, card{label, fmt.Sprint(v), warn && v > 0}) }
	for _, e := range p.Edges {
		n("open studies", e.OpenTotal, false)
		n("pending instances", e.Pending, false)
		n("queued shipments", e.QueuedTotal, false)
		n("held shipments", e.Held, true)
		n("quarantined", e.QuarantineTotal, true)
		if r := e.Received; r != nil {
			n("instances stored", int(r.StoresOK), false)
			n("stores failed", int(r.StoresFailed), true)
			n("active associations", int(r.Active), false)
		}
	}
	for _, h := range p.Hubs {
		n("hub pending", h.PendingTotal, false)
		n("dead letters", h.DeadTotal, true)
	}
	return cs
}

// counters lists the aisedge_* families (counters and gauges by label
// set, histograms as count and mean) and the certificates that expire
// within certWarnDays.
func counters(fams []*dto.MetricFamily) (rows []counterRow, certSoon []string) {
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, "aisedge_") {
			continue
		}
		short := strings.TrimPrefix(name, "aisedge_")
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+"="+l.GetValue())
			}
			row := counterRow{Name: short, Labels: strings.Join(pairs, " ")}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				row.Value = unit(name, m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				v := m.GetGauge().GetValue()
				row.Value = unit(name, v)
				if name == "aisedge_certificate_expiry_timestamp_seconds" {
					days := time.Until(time.Unix(int64(v), 0)).Hours() / 24
					row.Value = fmt.Sprintf("%s (in %.1f days)", time.Unix(int64(v), 0).UTC().Format("2006-01-02 15:04 UTC"), days)
					if days < certWarnDays {
						file := row.Labels
						for _, l := range m.GetLabel() {
							if l.GetName() == "file" {
								file = l.GetValue()
							}
						}
						certSoon = append(certSoon, fmt.Sprintf("certificate %s expires in %.1f days", file, days))
					}
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				row.Value = fmt.Sprintf("%d observed", h.GetSampleCount())
				if c := h.GetSampleCount(); c > 0 {
					row.Value += ", mean " + unit(name, h.GetSampleSum()/float64(c))
				}
			default:
				continue
			}
			rows = append(rows, row)
		}
	}
	return rows, certSoon
}

// unit formats v by the metric name's unit suffix.
func unit(name string, v float64) string {
	base := strings.TrimSuffix(name, "_total")
	switch {
	case strings.HasSuffix(base, "_bytes"):
		return fmtBytes(v)
	case strings.HasSuffix(base, "_seconds"):
		if v < 1 {
			return fmt.Sprintf("%.0f ms", v*1000)
		}
		return fmtDur(time.Duration(v * float64(time.Second)))
	case strings.HasSuffix(base, "_days"):
		return fmt.Sprintf("%.1f days", v)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func fmtBytes(v float64) string {
	const k = 1024
	if v < k {
		return fmt.Sprintf("%.0f B", v)
	}
	for i, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if d := v / math.Pow(k, float64(i+1)); d < k || u == "TiB" {
			return fmt.Sprintf("%.1f %s", d, u)
		}
	}
	return ""
}

// fmtDur is a compact, rounded duration: 45s, 3m12s, 2h05m, 3d04h.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
}

var pageFuncs = template.FuncMap{
	"dur":   fmtDur,
	"bytes": func(v int64) string { return fmtBytes(float64(v)) },
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"since": func(now, t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return fmtDur(now.Sub(t))
	},
	"more": func(total, shown int) int { return total - shown },
	// span is the time from a to b, "–" when either is unknown.
	"span": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return "–"
		}
		return fmtDur(b.Sub(a))
	},
}

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	doc := s.Status()
	var fams []*dto.MetricFamily
	if s.reg != nil {
		var err error
		// A failing collector still yields the others' families.
		if fams, err = s.reg.Gather(); err != nil {
			s.log.Warn("gathering metrics for the status page", "err", err)
		}
	}
	var b bytes.Buffer
	data := buildPage(doc, fams)
	s.mu.Lock()
	data.Actions = s.tcpAct != nil
	s.mu.Unlock()
	if err := pageTmpl.Execute(&b, data); err != nil {
		s.log.Error("rendering status page", "err", err)
		http.Error(w, "cannot render the status page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Inline styles only: nothing is loaded from anywhere.
	h.Set("Content-Security-Policy", pageCSP)
	w.Write(b.Bytes())
}

// pageCSP: inline styles only, nothing loaded from anywhere, forms only to
// this server, no framing.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'self'; frame-ancestors 'none'"

// actionTexts explains each action on its confirmation form.
var actionTexts = map[string]struct{ Title, Text string }{
	"quarantine-requeue": {"Requeue", "Runs the instance through the receiver again with the current routing and profile. Held again, the entry stays with its new reasons."},
	"quarantine-release": {"Release", "Sends on an instance held for pixel risk: you looked at its pixels and found no burned-in text. Your reason is recorded in the audit log and the de-identification report. Burned In Annotation = YES cannot be released."},
	"quarantine-discard": {"Discard", "Removes the entry. The original stays in the facility backup."},
	"deadletter-requeue": {"Requeue delivery", "Tries the delivery of this session generation again (after fixing XNAT, the project or the credentials)."},
}

type confirmData struct {
	Action, ID, Title, Text string
	// Path is the action's URL path, the id's segments escaped ('#' in a
	// dead letter's id included).
	Path          string
	NeedReason    bool
	Result, Error string
	Done          bool
}

var confirmTmpl = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aisedge: {{.Title}} {{.ID}}</title>
<style>
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{padding:.8em 1.5em;background:#1d2330;color:#fff}header h1{margin:0;font-size:1.3em}
main{padding:1em 1.5em;max-width:720px}
section{background:#fff;border-radius:6px;padding:.8em 1.2em 1.2em;box-shadow:0 1px 2px rgba(0,0,0,.08)}
label{display:block;margin:.8em 0 .2em;font-weight:600}
input,textarea{width:100%;box-sizing:border-box;font:inherit;padding:.35em}
button{margin-top:1em;padding:.45em 1.2em;font:inherit;font-weight:600;background:#c62828;color:#fff;border:0;border-radius:4px}
.ok{color:#1f8f3a}.err{color:#c62828}.muted{color:#7a8190}
</style></head>
<body><header><h1>aisedge</h1></header><main><section>
<h2>{{.Title}} <code>{{.ID}}</code>?</h2>
{{- if .Done}}
<p id="result" class="{{if .Error}}err{{else}}ok{{end}}">{{if .Error}}Failed: {{.Error}}{{else}}Done.{{end}}</p>
{{- else}}
<p>{{.Text}}</p>
<form method="post" action="{{.Path}}" id="confirm">
<label for="operator">Your name</label><input id="operator" name="operator" maxlength="64" autocomplete="username">
<label for="reason">Reason{{if .NeedReason}} (required){{end}}</label><textarea id="reason" name="reason" rows="3" maxlength="500"{{if .NeedReason}} required{{end}}></textarea>
<p class="muted">Recorded in the audit log. Do not write patient data here.</p>
<label for="token">Action token</label><input id="token" name="token" type="password" required autocomplete="current-password">
<button type="submit">Confirm: {{.Title}}</button>
</form>
{{- end}}
<p><a href="/">Back to the status page</a></p>
</section></main></body></html>
`))

// confirm serves GET /confirm/{action}/{id}: the form that asks for the
// token, the operator's name and the reason before an action runs.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	enabled := s.tcpAct != nil
	s.mu.Unlock()
	name, id := r.PathValue("action"), r.PathValue("id")
	txt, known := actionTexts[name]
	if _, ok := s.actions[name]; !enabled || !ok || !known {
		http.Error(w, "actions are served on the local socket only (aisedge quarantine on the host)", http.StatusNotFound)
		return
	}
	if !validID(id) {
		http.Error(w, "invalid id", http.StatusBadRequest)
		return
	}
	s.renderConfirm(w, http.StatusOK, confirmData{Action: name, ID: id, Title: txt.Title, Text: txt.Text, NeedReason: name == "quarantine-release",
		Path: actionPath(name, id)})
}

// actionPath is POST /api/{action}/{id} with the id's segments escaped.
func actionPath(action, id string) string {
	segs := strings.Split(id, "/")
	for i, sg := range segs {
		segs[i] = url.PathEscape(sg)
	}
	return "/api/" + url.PathEscape(action) + "/" + strings.Join(segs, "/")
}

func (s *Server) renderConfirm(w http.ResponseWriter, code int, d confirmData) {
	var b bytes.Buffer
	if err := confirmTmpl.Execute(&b, d); err != nil {
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(code)
	w.Write(b.Bytes())
}

// seconds is a whole-second count in the status JSON, shown as a duration.
type seconds int64

// Duration converts it for display.
func (s seconds) Duration() time.Duration { return time.Duration(s) * time.Second }
