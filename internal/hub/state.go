package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/objstore"
)

// The hub's records, in <DataDir>/hub.db (bbolt, fsynced on each update):
// generations delivered to every destination, deliveries per destination,
// dead letters, and each edge's delivery count.
var (
	bucketDelivered = []byte("delivered")
	// bucketDestinations holds one record per generation and destination
	// (<base>#<generation>@<destination>), so that a generation that one
	// destination has is not sent to it again while another lacks it.
	bucketDestinations = []byte("destinations")
	bucketDead         = []byte("deadletter")
	// bucketEdges holds one EdgeDelivery per edge (by name), updated with
	// each delivery record, for `fleet status`.
	bucketEdges = []byte("edges")
)

func openState(dataDir string) (*bolt.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dataDir, "hub.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("hub: opening state: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDelivered, bucketDestinations, bucketDead, bucketEdges} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func deliveredKey(base string, gen int) []byte { return []byte(fmt.Sprintf("%s#%08d", base, gen)) }

func destinationKey(base string, gen int, dest string) []byte {
	return append(deliveredKey(base, gen), "@"+dest...)
}

func (h *Hub) has(bucket, key []byte) bool {
	var ok bool
	h.db.View(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucket).Get(key) != nil
		return nil
	})
	return ok
}

// Delivered reports whether a generation was delivered to every
// destination.
func (h *Hub) Delivered(base string, gen int) bool {
	return h.has(bucketDelivered, deliveredKey(base, gen))
}

// DeliveredTo reports whether a generation was delivered to the named
// destination.
func (h *Hub) DeliveredTo(base string, gen int, dest string) bool {
	return h.has(bucketDestinations, destinationKey(base, gen, dest))
}

func (h *Hub) dead(base string, gen int) bool { return h.has(bucketDead, deliveredKey(base, gen)) }

// recordDestination records a generation delivered to one destination.
func (h *Hub) recordDestination(s Sealed, dest string, files int) error {
	rec, _ := json.Marshal(map[string]any{"at": h.cfg.Now().UTC(), "files": files})
	return h.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDestinations).Put(destinationKey(s.Base, s.Generation, dest), rec)
	})
}

// recordDelivered records a generation delivered to all its destinations,
// keeps it among the recent deliveries (deliveries.go) and counts it for
// its edge, in one transaction.
func (h *Hub) recordDelivered(s Sealed, m *manifest.Manifest, files int, dests []string, d Delivery) error {
	at := h.cfg.Now().UTC()
	rec, _ := json.Marshal(map[string]any{"at": at, "files": files, "destinations": dests})
	return h.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketDelivered).Put(deliveredKey(s.Base, s.Generation), rec); err != nil {
			return err
		}
		if err := recordRecent(tx, d); err != nil {
			return err
		}
		return recordEdge(tx, m.Edge, at)
	})
}

// DeadLetter is a generation held after a permanent failure.
type DeadLetter struct {
	Base       string    `json:"base"`
	Generation int       `json:"generation"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

func (h *Hub) deadLetter(s Sealed, reason string) {
	d, _ := json.Marshal(DeadLetter{Base: s.Base, Generation: s.Generation, Reason: reason, At: h.cfg.Now().UTC()})
	h.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketDead).Put(deliveredKey(s.Base, s.Generation), d) })
}

// DeadLetters lists held generations.
func (h *Hub) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDead).ForEach(func(_, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// Requeue releases a dead-lettered generation for another attempt.
func (h *Hub) Requeue(base string, gen int) error {
	return h.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		if b.Get(deliveredKey(base, gen)) == nil {
			return fmt.Errorf("hub: %s generation %d is not dead-lettered", base, gen)
		}
		return b.Delete(deliveredKey(base, gen))
	})
}

// RequeueKey is Requeue for an id of the form <base>#<generation>, as the
// local API passes it.
func (h *Hub) RequeueKey(_ context.Context, id string) error {
	base, g, ok := strings.Cut(id, "#")
	gen, err := strconv.Atoi(g)
	if !ok || err != nil {
		return fmt.Errorf("hub: %q is not <session prefix>#<generation>", id)
	}
	return h.Requeue(base, gen)
}

// Status is the hub's value-free state.
type Status struct {
	// Destination names the destinations, comma-separated.
	Destination string       `json:"destination"`
	Pending     []Sealed     `json:"pending"`
	DeadLetters []DeadLetter `json:"deadLetters"`
	// Edges is the delivery record of each edge that had a session
	// delivered, by edge name (the manifest's; "legacy" for sessions of
	// the original system).
	Edges map[string]EdgeDelivery `json:"edges,omitempty"`
	// Paused is set while delivery waits for working credentials: the
	// oldest pause; Pauses lists every paused destination.
	Paused *Pause  `json:"paused,omitempty"`
	Pauses []Pause `json:"pauses,omitempty"`
	// Recent is the latest deliveries, newest first (deliveries.go).
	Recent []Delivery `json:"recentDeliveries,omitempty"`
}

// EdgeDelivery is what the hub delivered for one edge.
type EdgeDelivery struct {
	// LastDelivery is when the edge's latest generation was delivered.
	LastDelivery time.Time `json:"lastDelivery"`
	// Delivered counts the generations delivered since the hub's state
	// was created.
	Delivered int `json:"delivered"`
}

// recordEdge counts a delivery for edge.
func recordEdge(tx *bolt.Tx, edge string, at time.Time) error {
	if edge == "" {
		edge = "unknown"
	}
	b := tx.Bucket(bucketEdges)
	var d EdgeDelivery
	if v := b.Get([]byte(edge)); v != nil {
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("hub: edge record %s: %w", edge, err)
		}
	}
	d.Delivered++
	if at.After(d.LastDelivery) {
		d.LastDelivery = at
	}
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return b.Put([]byte(edge), v)
}

// EdgeDeliveries returns the delivery record of every edge.
func (h *Hub) EdgeDeliveries() (map[string]EdgeDelivery, error) {
	out := map[string]EdgeDelivery{}
	err := h.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEdges).ForEach(func(k, v []byte) error {
			var d EdgeDelivery
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("hub: edge record %s: %w", k, err)
			}
			out[string(k)] = d
			return nil
		})
	})
	return out, err
}

// Status lists what waits in the bucket and what is held.
func (h *Hub) Status() (Status, error) {
	var names []string
	for _, t := range h.cfg.Destinations {
		names = append(names, t.Dest.Name())
	}
	st := Status{Destination: strings.Join(names, ", "), Paused: h.Paused(), Pauses: h.Pauses()}
	// One try, briefly: the status answers while the store is unreachable.
	ctx, cancel := context.WithTimeout(objstore.NoRetry(context.Background()), 5*time.Second)
	defer cancel()
	sealed, err := h.Scan(ctx)
	if err != nil {
		return st, err
	}
	for _, s := range sealed {
		if !h.Delivered(s.Base, s.Generation) {
			st.Pending = append(st.Pending, s)
		}
	}
	if st.DeadLetters, err = h.DeadLetters(); err != nil {
		return st, err
	}
	if st.Edges, err = h.EdgeDeliveries(); len(st.Edges) == 0 {
		st.Edges = nil
	}
	if err != nil {
		return st, err
	}
	st.Recent, err = h.RecentDeliveries(RecentShown)
	return st, err
}
