package hub

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/objstore"
)

// Sealed is one sealed generation found in the bucket.
type Sealed struct {
	// Base is the session's key prefix, "staged/<edge>/<folder>/" (or
	// "staged/<folder>/" for the original system's layout).
	Base       string `json:"base"`
	Generation int    `json:"generation"`
	// ManifestKey is the manifest's key; empty for a legacy session.
	ManifestKey string `json:"manifestKey,omitempty"`
	// Legacy marks a session uploaded by the original system (legacy.go).
	Legacy bool `json:"legacy,omitempty"`

	objects []objstore.Info // a legacy session's objects
}

// manifestName is a seal: MANIFEST.json, MANIFEST.g<N>.json.
var manifestName = regexp.MustCompile(`^MANIFEST(?:\.g([0-9]+))?\.json$`)

// Scan lists the sealed generations in the bucket, per session in
// generation order.
func (h *Hub) Scan(ctx context.Context) ([]Sealed, error) {
	var out []Sealed
	legacy := h.newLegacyScan()
	for info, err := range h.cfg.Store.List(ctx, h.cfg.Prefix) {
		if err != nil {
			return nil, err
		}
		if legacy.claim(info) {
			continue
		}
		i := strings.LastIndex(info.Key, "/") + 1
		m := manifestName.FindStringSubmatch(info.Key[i:])
		if m == nil {
			continue
		}
		gen := 1
		if m[1] != "" {
			gen, _ = strconv.Atoi(m[1])
		}
		out = append(out, Sealed{Base: info.Key[:i], Generation: gen, ManifestKey: info.Key})
	}
	out = append(out, legacy.settled()...)
	slices.SortFunc(out, func(a, b Sealed) int {
		if c := strings.Compare(a.Base, b.Base); c != 0 {
			return c
		}
		return a.Generation - b.Generation
	})
	return out, nil
}
