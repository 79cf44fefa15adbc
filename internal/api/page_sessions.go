package api

import (
	"sort"
	"strings"
	"time"
)

// The page's session tables. The edge reports the sessions in flight
// (instance counts by stage) and the generations it sealed (per scan:
// instances, bytes, receive times); the hub reports the generations it
// delivered (per scan: files, bytes; staged, started and delivered
// times). When one process runs both (aisedge run) the page joins them by
// edge name, session folder and generation: a session stays "in
// progress" until the hub has delivered it, and a delivered session shows
// the edge's receive times beside the hub's delivery. Every value is a
// pseudonymous label, a count, a size or a clock reading of ours.

// progressView mirrors edge.SessionProgress.
type progressView struct {
	Session       string    `json:"session"`
	Received      int       `json:"received"`
	Staged        int       `json:"staged"`
	Uploaded      int       `json:"uploaded"`
	Sealed        int       `json:"sealed"`
	Generations   int       `json:"generations"`
	Held          bool      `json:"held"`
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

// shippedView mirrors edge.ShippedSession.
type shippedView struct {
	Session    string       `json:"session"`
	Generation int          `json:"generation"`
	Instances  int          `json:"instances"`
	Bytes      int64        `json:"bytes"`
	StagedAt   time.Time    `json:"stagedAt"`
	SealedAt   time.Time    `json:"sealedAt"`
	Series     []seriesView `json:"series"`
}

// seriesView mirrors edge.SeriesShipped.
type seriesView struct {
	Scan          string    `json:"scan"`
	Modality      string    `json:"modality"`
	Instances     int       `json:"instances"`
	Bytes         int64     `json:"bytes"`
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

type sessionsView struct {
	// HubKnown: a hub part is on the page, so delivery is known.
	HubKnown bool
	// EdgeKnown: an edge part is on the page, so receive times are known.
	EdgeKnown bool
	InFlight  []flightRow
	Done      []doneRow
	// Totals before the lists were cut to pageRows.
	InFlightTotal, DoneTotal int
}

// flightRow is one session in progress. Each count includes the next.
type flightRow struct {
	Edge, Session                         string
	Received, Staged, Uploaded, Delivered int
	State                                 string
	Held                                  bool
	FirstReceived, LastReceived           time.Time
}

// doneRow is one delivered (or, without a hub, sealed) generation.
type doneRow struct {
	Edge, Session string
	Generation    int
	Instances     int
	Bytes         int64
	// Receive times (edge), staging, sealing (edge), delivery start and
	// end (hub); zero when unknown.
	FirstReceived, LastReceived, StagedAt, SealedAt, StartedAt, DeliveredAt time.Time
	Series                                                                  []seriesView
}

// Total is the time from the first instance received to delivery (or to
// the seal without a hub); zero when unknown.
func (d doneRow) Total() time.Duration {
	end := d.DeliveredAt
	if end.IsZero() {
		end = d.SealedAt
	}
	if d.FirstReceived.IsZero() || end.IsZero() {
		return 0
	}
	return end.Sub(d.FirstReceived)
}

// sessionKey joins the parts: edge name, folder and generation (0 for a
// whole session).
type sessionKey struct {
	edge, folder string
	gen          int
}

// baseKey reads "<prefix>/<edge>/<folder>/" (or the original's
// "staged/<folder>/") as an edge and folder.
func baseKey(base string, gen int) sessionKey {
	parts := strings.Split(strings.Trim(base, "/"), "/")
	k := sessionKey{folder: parts[len(parts)-1], gen: gen}
	if len(parts) >= 3 {
		k.edge = parts[len(parts)-2]
	}
	return k
}

func buildSessions(edges []*edgeView, hubs []*hubView) sessionsView {
	v := sessionsView{HubKnown: len(hubs) > 0, EdgeKnown: len(edges) > 0}
	// What the hubs delivered and hold, by session and by generation.
	delivered := map[sessionKey]int{}
	deliveries := map[sessionKey]deliveryView{}
	pending := map[sessionKey]bool{}
	for _, h := range hubs {
		for _, d := range h.Recent {
			k := sessionKey{d.Edge, d.Session, d.Generation}
			if k.folder == "" {
				k = baseKey(d.Base, d.Generation)
			}
			deliveries[k] = d
			delivered[sessionKey{k.edge, k.folder, 0}] += d.Files
		}
		for _, s := range h.Pending {
			pending[baseKey(s.Base, s.Generation)] = true
		}
	}
	shipped := map[sessionKey]shippedView{}
	inflight := map[sessionKey]bool{}
	for _, e := range edges {
		for _, s := range e.Shipped {
			shipped[sessionKey{e.Edge, s.Session, s.Generation}] = s
		}
		for _, s := range e.Sessions {
			k := sessionKey{e.Edge, s.Session, 0}
			inflight[k] = true
			r := flightRow{Edge: e.Edge, Session: s.Session, Received: s.Received, Staged: s.Staged, Uploaded: s.Uploaded,
				Delivered: delivered[k], Held: s.Held, FirstReceived: s.FirstReceived, LastReceived: s.LastReceived}
			r.State = flightState(r, s.Sealed, v.HubKnown)
			v.InFlight = append(v.InFlight, r)
		}
	}
	// Generations sealed by an edge on this page and not yet delivered
	// are still in progress: the session's counts come from the edge's
	// shipped list (the history of its seals).
	for k := range pending {
		sk := sessionKey{k.edge, k.folder, 0}
		if _, ok := shipped[k]; !ok || inflight[sk] {
			continue
		}
		inflight[sk] = true
		r := flightRow{Edge: k.edge, Session: k.folder, Delivered: delivered[sk], State: "waiting for delivery"}
		for gk, s := range shipped {
			if gk.edge == k.edge && gk.folder == k.folder {
				r.Received += s.Instances
				for _, se := range s.Series {
					if r.FirstReceived.IsZero() || se.FirstReceived.Before(r.FirstReceived) {
						r.FirstReceived = se.FirstReceived
					}
					if se.LastReceived.After(r.LastReceived) {
						r.LastReceived = se.LastReceived
					}
				}
			}
		}
		r.Staged, r.Uploaded = r.Received, r.Received
		v.InFlight = append(v.InFlight, r)
	}
	sort.SliceStable(v.InFlight, func(i, j int) bool { return v.InFlight[i].FirstReceived.Before(v.InFlight[j].FirstReceived) })

	// Delivered generations, with the edge's receive times when known;
	// without a hub, the generations the edge sealed.
	if v.HubKnown {
		for k, d := range deliveries {
			r := doneRow{Edge: k.edge, Session: k.folder, Generation: k.gen, Instances: d.Files, Bytes: d.Bytes,
				StagedAt: d.StagedAt, StartedAt: d.StartedAt, DeliveredAt: d.At}
			s, ok := shipped[k]
			byScan := map[string]seriesView{}
			if ok {
				r.SealedAt = s.SealedAt
				for _, se := range s.Series {
					byScan[se.Scan] = se
				}
			}
			for _, se := range d.Series {
				sv := seriesView{Scan: se.Scan, Modality: se.Modality, Instances: se.Files, Bytes: se.Bytes}
				if es, ok := byScan[se.Scan]; ok {
					sv.FirstReceived, sv.LastReceived = es.FirstReceived, es.LastReceived
				}
				r.Series = append(r.Series, sv)
			}
			r.receivedSpan()
			v.Done = append(v.Done, r)
		}
	} else {
		for k, s := range shipped {
			r := doneRow{Edge: k.edge, Session: k.folder, Generation: k.gen, Instances: s.Instances, Bytes: s.Bytes,
				StagedAt: s.StagedAt, SealedAt: s.SealedAt, Series: s.Series}
			r.receivedSpan()
			v.Done = append(v.Done, r)
		}
	}
	sort.Slice(v.Done, func(i, j int) bool {
		a, b := v.Done[i], v.Done[j]
		if !a.DeliveredAt.Equal(b.DeliveredAt) {
			return a.DeliveredAt.After(b.DeliveredAt)
		}
		if !a.SealedAt.Equal(b.SealedAt) {
			return a.SealedAt.After(b.SealedAt)
		}
		if a.Session != b.Session {
			return a.Session < b.Session
		}
		return a.Generation < b.Generation
	})
	for i := range v.Done {
		sort.SliceStable(v.Done[i].Series, func(a, b int) bool { return scanLess(v.Done[i].Series[a].Scan, v.Done[i].Series[b].Scan) })
	}
	v.InFlightTotal, v.DoneTotal = len(v.InFlight), len(v.Done)
	v.InFlight, v.Done = capRows(v.InFlight), capRows(v.Done)
	return v
}

// receivedSpan sets the row's receive times from its series'.
func (d *doneRow) receivedSpan() {
	for _, se := range d.Series {
		if !se.FirstReceived.IsZero() && (d.FirstReceived.IsZero() || se.FirstReceived.Before(d.FirstReceived)) {
			d.FirstReceived = se.FirstReceived
		}
		if se.LastReceived.After(d.LastReceived) {
			d.LastReceived = se.LastReceived
		}
	}
}

// flightState says where a session in flight stands.
func flightState(r flightRow, sealed int, hubKnown bool) string {
	switch {
	case r.Held:
		return "held (operator action needed)"
	case r.Received > r.Staged:
		return "receiving (waiting for the quiet period)"
	case r.Staged > r.Uploaded:
		return "uploading"
	case r.Uploaded > sealed:
		return "sealing"
	case hubKnown:
		return "waiting for delivery"
	default:
		return "sealed in the bucket (delivery: see the hub)"
	}
}

// scanLess orders scan folders <number>.<name> by number, then name.
func scanLess(a, b string) bool {
	na, _, _ := strings.Cut(a, ".")
	nb, _, _ := strings.Cut(b, ".")
	if len(na) != len(nb) && strings.Trim(na, "0123456789") == "" && strings.Trim(nb, "0123456789") == "" {
		return len(na) < len(nb)
	}
	return a < b
}
