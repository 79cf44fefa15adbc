package spool

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// What the status page shows of sessions: the progress of those in flight
// (Progress) and a bounded history of sealed generations with per-series
// counts and receive times (Shipped), written in the seal's transaction.
// Both hold spool values only: pseudonymous labels, counts, sizes and the
// edge's own clock readings.

// bucketShipped holds one ShippedGeneration per sealed generation, keyed
// by seal time, pruned to ShippedKeep entries.
var bucketShipped = []byte("shipped")

// ShippedKeep is how many sealed generations the history keeps.
const ShippedKeep = 200

// SeriesSummary counts one series of a generation.
type SeriesSummary struct {
	// SeriesNumber, SeriesDescription and Modality are the de-identified
	// values the stager names the scan folder by.
	SeriesNumber      string `json:"seriesNumber,omitempty"`
	SeriesDescription string `json:"seriesDescription,omitempty"`
	Modality          string `json:"modality,omitempty"`
	Instances         int    `json:"instances"`
	Bytes             int64  `json:"bytes"`
	// FirstReceived and LastReceived are when the series' first and last
	// instance of this generation reached the spool.
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

// ShippedGeneration records one sealed generation.
type ShippedGeneration struct {
	StudyKey   string `json:"study"`
	Generation int    `json:"generation"`
	Session
	StagedAt time.Time       `json:"stagedAt"`
	SealedAt time.Time       `json:"sealedAt"`
	Series   []SeriesSummary `json:"series"`
}

// Instances is the generation's instance count.
func (g *ShippedGeneration) Instances() int {
	n := 0
	for _, s := range g.Series {
		n += s.Instances
	}
	return n
}

// summarise groups a generation's instances by series (remapped series
// UID), in series-number order.
func summarise(ins []Instance) []SeriesSummary {
	by := map[string]*SeriesSummary{}
	var order []string
	for _, in := range ins {
		s := by[in.SeriesUID]
		if s == nil {
			s = &SeriesSummary{SeriesNumber: in.SeriesNumber, SeriesDescription: in.SeriesDescription, Modality: in.Modality,
				FirstReceived: in.ReceivedAt, LastReceived: in.ReceivedAt}
			by[in.SeriesUID] = s
			order = append(order, in.SeriesUID)
		}
		s.Instances++
		s.Bytes += in.Size
		if in.ReceivedAt.Before(s.FirstReceived) {
			s.FirstReceived = in.ReceivedAt
		}
		if in.ReceivedAt.After(s.LastReceived) {
			s.LastReceived = in.ReceivedAt
		}
	}
	out := make([]SeriesSummary, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	slices.SortStableFunc(out, func(a, b SeriesSummary) int {
		if c := cmpNumber(a.SeriesNumber, b.SeriesNumber); c != 0 {
			return c
		}
		return a.FirstReceived.Compare(b.FirstReceived)
	})
	return out
}

// cmpNumber orders series numbers numerically when both are digits.
func cmpNumber(a, b string) int {
	if len(a) != len(b) && strings.Trim(a, "0123456789") == "" && strings.Trim(b, "0123456789") == "" && a != "" && b != "" {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// recordShipped adds a sealed generation to the history and prunes it.
func recordShipped(tx *bolt.Tx, g ShippedGeneration) error {
	b, err := tx.CreateBucketIfNotExists(bucketShipped)
	if err != nil {
		return err
	}
	v, err := json.Marshal(&g)
	if err != nil {
		return err
	}
	key := []byte(g.SealedAt.UTC().Format("20060102T150405.000000000Z") + "\x00" + shipmentKey(g.StudyKey, g.Generation))
	if err := b.Put(key, v); err != nil {
		return err
	}
	// Counted with a cursor: Stats misses the keys put in this
	// transaction.
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	for ; n > ShippedKeep; n-- {
		k, _ := b.Cursor().First()
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Shipped returns up to n sealed generations, the latest seal first.
func (s *Spool) Shipped(n int) ([]ShippedGeneration, error) {
	var out []ShippedGeneration
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketShipped)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var g ShippedGeneration
			if err := json.Unmarshal(v, &g); err != nil {
				return err
			}
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// Progress counts the instances of one session in flight, each count
// including the next ones: Received ≥ Staged ≥ Uploaded ≥ Sealed.
type Progress struct {
	StudyKey string `json:"study"`
	Session
	// Received: instances recorded in the spool (every generation).
	Received int `json:"received"`
	// Staged: in a staged generation (a session folder and manifest).
	Staged int `json:"staged"`
	// Uploaded: every file of their generation verified in the bucket.
	Uploaded int `json:"uploaded"`
	// Sealed: their generation's manifest is in the bucket (handed to the
	// hub).
	Sealed int `json:"sealed"`
	// Held: a generation of the session waits for an operator.
	Held bool `json:"held,omitempty"`
	// Generations counts the generations staged so far.
	Generations   int       `json:"generations"`
	FirstReceived time.Time `json:"firstReceived"`
	LastReceived  time.Time `json:"lastReceived"`
}

// InFlight returns the progress of every session with instances not yet
// sealed in the bucket (waiting for staging, staged or uploaded), oldest
// first instance first.
func (s *Spool) InFlight() ([]Progress, error) {
	var out []Progress
	err := s.db.View(func(tx *bolt.Tx) error {
		// Shipment states by study and generation; a study with an
		// unsealed shipment is in flight.
		states := map[string]map[int]*Shipment{}
		err := tx.Bucket(bucketShipments).ForEach(func(_, v []byte) error {
			var sh Shipment
			if err := json.Unmarshal(v, &sh); err != nil {
				return err
			}
			if states[sh.StudyKey] == nil {
				states[sh.StudyKey] = map[int]*Shipment{}
			}
			states[sh.StudyKey][sh.Generation] = &sh
			return nil
		})
		if err != nil {
			return err
		}
		unsealed := func(key string) bool {
			for _, sh := range states[key] {
				if sh.State != Sealed {
					return true
				}
			}
			return false
		}
		ib := tx.Bucket(bucketInstances)
		return tx.Bucket(bucketStudies).ForEach(func(k, v []byte) error {
			var st Study
			if err := json.Unmarshal(v, &st); err != nil {
				return err
			}
			if st.Pending == 0 && !unsealed(st.Key) {
				return nil
			}
			p := Progress{StudyKey: st.Key, Session: st.Session, Generations: st.Generation}
			prefix := instKey(st.Key, "")
			c := ib.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var in Instance
				if err := json.Unmarshal(v, &in); err != nil {
					return err
				}
				p.Received++
				if p.FirstReceived.IsZero() || in.ReceivedAt.Before(p.FirstReceived) {
					p.FirstReceived = in.ReceivedAt
				}
				if in.ReceivedAt.After(p.LastReceived) {
					p.LastReceived = in.ReceivedAt
				}
				if in.Generation == 0 {
					continue
				}
				p.Staged++
				sh := states[st.Key][in.Generation]
				switch {
				case in.Released || sh != nil && sh.State == Sealed:
					p.Uploaded++
					p.Sealed++
				case sh != nil && sh.State == Uploaded:
					p.Uploaded++
				}
			}
			for _, sh := range states[st.Key] {
				p.Held = p.Held || sh.Held
			}
			out = append(out, p)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Progress) int { return a.FirstReceived.Compare(b.FirstReceived) })
	return out, err
}
