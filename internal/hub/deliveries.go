package hub

import (
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/manifest"
)

// The delivered sessions the status page lists: one Delivery per
// delivered generation, written in the transaction that records the
// delivery, the latest RecentKeep kept. Only manifest values (pseudonymous
// labels, scan names, counts, sizes) and the hub's clock readings.

var bucketRecent = []byte("recent")

// RecentKeep is how many deliveries the history keeps; RecentShown how
// many the status reports.
const (
	RecentKeep  = 200
	RecentShown = 100
)

// Delivery is one delivered generation.
type Delivery struct {
	// Base is the session's key prefix in the bucket.
	Base       string `json:"base"`
	Generation int    `json:"generation"`
	// Edge and Session are the manifest's edge name and session folder
	// PROJECT.SUBJECT.VISIT.
	Edge    string `json:"edge"`
	Session string `json:"session"`
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	// StagedAt is when the edge staged the generation (the manifest's
	// creation), StartedAt when the hub began delivering it, At when the
	// delivery was verified at the destination and recorded.
	StagedAt  time.Time         `json:"stagedAt,omitzero"`
	StartedAt time.Time         `json:"startedAt"`
	At        time.Time         `json:"at"`
	Series    []DeliveredSeries `json:"series"`
}

// DeliveredSeries is one scan of a delivered generation.
type DeliveredSeries struct {
	Scan     string `json:"scan"`
	Modality string `json:"modality,omitempty"`
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
}

func newDelivery(s Sealed, m *manifest.Manifest, start, at time.Time) Delivery {
	d := Delivery{Base: s.Base, Generation: s.Generation, Edge: m.Edge, Session: m.Folder, Files: len(m.Files), Bytes: m.TotalBytes(),
		StagedAt: m.CreatedAt.UTC(), StartedAt: start.UTC(), At: at.UTC()}
	for _, se := range m.Series {
		d.Series = append(d.Series, DeliveredSeries{Scan: se.Scan, Modality: se.Modality, Files: se.Files, Bytes: se.Bytes})
	}
	return d
}

// recordRecent adds a delivery to the history and prunes it.
func recordRecent(tx *bolt.Tx, d Delivery) error {
	b, err := tx.CreateBucketIfNotExists(bucketRecent)
	if err != nil {
		return err
	}
	v, err := json.Marshal(&d)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(d.At.Format("20060102T150405.000000000Z")+"\x00"+string(deliveredKey(d.Base, d.Generation))), v); err != nil {
		return err
	}
	// Counted with a cursor: Stats misses the keys put in this
	// transaction.
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	for ; n > RecentKeep; n-- {
		k, _ := b.Cursor().First()
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// RecentDeliveries returns up to n deliveries, the latest first.
func (h *Hub) RecentDeliveries(n int) ([]Delivery, error) {
	var out []Delivery
	err := h.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecent)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var d Delivery
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}
