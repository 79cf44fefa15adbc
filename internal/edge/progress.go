package edge

import (
	"time"

	"github.com/aisedge/aisedge/internal/spool"
)

// ShippedShown is how many sealed generations the status reports.
const ShippedShown = 100

// SessionProgress is one session in flight in the edge's status: instance
// counts by how far they got, each including the next (Received ≥ Staged
// ≥ Uploaded ≥ Sealed). Sealed instances are the hub's to deliver; the
// hub's status says which were.
type SessionProgress struct {
	// Session is the pseudonymous folder name PROJECT.SUBJECT.VISIT.
	Session       string    `json:"session"`
	Received      int       `json:"received"`
	Staged        int       `json:"staged"`
	Uploaded      int       `json:"uploaded"`
	Sealed        int       `json:"sealed"`
	Generations   int       `json:"generations"`
	Held          bool      `json:"held,omitempty"`
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

// ShippedSession is one generation sealed in the bucket.
type ShippedSession struct {
	Session    string          `json:"session"`
	Generation int             `json:"generation"`
	Instances  int             `json:"instances"`
	Bytes      int64           `json:"bytes"`
	StagedAt   time.Time       `json:"stagedAt"`
	SealedAt   time.Time       `json:"sealedAt"`
	Series     []SeriesShipped `json:"series"`
}

// SeriesShipped is one scan of a sealed generation.
type SeriesShipped struct {
	// Scan is the scan folder's name in the session (ScanName).
	Scan          string    `json:"scan"`
	Modality      string    `json:"modality,omitempty"`
	Instances     int       `json:"instances"`
	Bytes         int64     `json:"bytes"`
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

// sessionStatus reads the sessions in flight and the latest seals from
// the spool.
func sessionStatus(sp *spool.Spool) ([]SessionProgress, []ShippedSession, error) {
	inflight, err := sp.InFlight()
	if err != nil {
		return nil, nil, err
	}
	var prog []SessionProgress
	for _, p := range inflight {
		prog = append(prog, SessionProgress{Session: Folder(p.Session), Received: p.Received, Staged: p.Staged, Uploaded: p.Uploaded,
			Sealed: p.Sealed, Generations: p.Generations, Held: p.Held, FirstReceived: p.FirstReceived, LastReceived: p.LastReceived})
	}
	hist, err := sp.Shipped(ShippedShown)
	if err != nil {
		return nil, nil, err
	}
	var shipped []ShippedSession
	for _, g := range hist {
		s := ShippedSession{Session: Folder(g.Session), Generation: g.Generation, StagedAt: g.StagedAt, SealedAt: g.SealedAt}
		// Series with the same scan name share one folder, as in the
		// manifest.
		idx := map[string]int{}
		for _, se := range g.Series {
			scan := ScanName(se.SeriesNumber, se.SeriesDescription)
			i, ok := idx[scan]
			if !ok {
				i = len(s.Series)
				idx[scan] = i
				s.Series = append(s.Series, SeriesShipped{Scan: scan, Modality: se.Modality, FirstReceived: se.FirstReceived, LastReceived: se.LastReceived})
			}
			x := &s.Series[i]
			x.Instances += se.Instances
			x.Bytes += se.Bytes
			if se.FirstReceived.Before(x.FirstReceived) {
				x.FirstReceived = se.FirstReceived
			}
			if se.LastReceived.After(x.LastReceived) {
				x.LastReceived = se.LastReceived
			}
			s.Instances += se.Instances
			s.Bytes += se.Bytes
		}
		shipped = append(shipped, s)
	}
	return prog, shipped, nil
}
