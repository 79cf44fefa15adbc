package hub_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/hub/hubtest"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/testpeer/orthanc"
)

// sentCounter is a log handler that adds up the "sent" counts the DICOM
// and DICOMweb destinations log per delivery.
type sentCounter struct{ n atomic.Int64 }

func (c *sentCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *sentCounter) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sent" {
			c.n.Add(a.Value.Int64())
		}
		return true
	})
	return nil
}
func (c *sentCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *sentCounter) WithGroup(string) slog.Handler      { return c }

// The Destination contract, checked for C-STORE forwarding against a real
// Orthanc that accepts only the hub's calling AE title.
func TestDICOMConformance(t *testing.T) {
	o := orthanc.Start(t, orthanc.Options{CallingAETs: []string{"AISEDGE-HUB"}})
	hubtest.Run(t, func(t *testing.T) hubtest.Peer {
		var sent sentCounter
		d := &hub.DICOM{Addr: o.DICOMAddr, CalledAET: orthanc.AET, CallingAET: "AISEDGE-HUB", StateDir: t.TempDir(), Log: slog.New(&sent)}
		return hubtest.Peer{Dest: d, Sent: func() int { return int(sent.n.Load()) },
			Held: func(t *testing.T, m *manifest.Manifest) [][]byte { return o.PatientFiles(t, m.Subject) }}
	}, hubtest.Options{
		Compare: hubtest.SameDataset,
		Unreachable: func(t *testing.T) hub.Destination {
			return &hub.DICOM{Addr: orthanc.Unused(t), CalledAET: orthanc.AET, CallingAET: "AISEDGE-HUB", StateDir: t.TempDir()}
		},
		WrongCredentials: func(t *testing.T) hub.Destination {
			return &hub.DICOM{Addr: o.DICOMAddr, CalledAET: orthanc.AET, CallingAET: "STRANGER", StateDir: t.TempDir()}
		},
	})
}
