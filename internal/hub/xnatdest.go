package hub

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/xnat"
)

// XNAT is the Destination of a production hub: it delivers each session
// generation through the XNAT client, which creates what is missing,
// uploads only the gaps and verifies every file's MD5.
type XNAT struct {
	Client *xnat.Client
	Opts   xnat.DeliverOptions
}

// Name implements Destination.
func (x *XNAT) Name() string { return "XNAT" }

// Deliver implements Destination.
func (x *XNAT) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	s := SessionFor(m, dir)
	if _, err := x.Client.Deliver(ctx, s, x.Opts); err != nil {
		if xnat.IsPermanent(err) {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	}
	return nil
}

// SessionFor maps a manifest onto an XNAT session: one scan per scan
// folder, with the folder name as scan ID ('.' → '_', so that scans of one
// visit that share a series number but not a description stay apart, also
// across appends), the series description as type, and one DICOM resource.
func SessionFor(m *manifest.Manifest, dir string) xnat.Session {
	var modalities []string
	for _, se := range m.Series {
		modalities = append(modalities, se.Modality)
	}
	if m.Modality != "" {
		modalities = append([]string{m.Modality}, modalities...)
	}
	sessType := xnat.SessionXSIType(modalities...)
	s := xnat.Session{Project: m.Project, Subject: m.Subject, Label: m.ExperimentLabel(), XSIType: sessType}
	byScan := map[string]*xnat.Scan{}
	var order []string
	for _, se := range m.Series {
		sc := &xnat.Scan{ScanSpec: xnat.ScanSpec{
			ID:      strings.ReplaceAll(se.Scan, ".", "_"),
			XSIType: xnat.ScanXSIType(se.Modality, "", sessType), Type: se.SeriesDescription, SeriesDescription: se.SeriesDescription,
		}}
		byScan[se.Scan] = sc
		order = append(order, se.Scan)
	}
	res := map[string]*xnat.Resource{}
	resOrder := map[string][]string{} // scan → resource keys in first-seen order
	for _, f := range m.Files {
		parts := strings.SplitN(f.Path, "/", 3)
		key := parts[0] + "/" + parts[1]
		r := res[key]
		if r == nil {
			r = &xnat.Resource{Label: parts[1], Format: "DICOM", Content: "RAW"}
			res[key] = r
			resOrder[parts[0]] = append(resOrder[parts[0]], key)
		}
		local := filepath.Join(dir, filepath.FromSlash(f.Path))
		r.Files = append(r.Files, xnat.File{Path: parts[2], Size: f.Size, MD5: f.MD5,
			Open: func() (io.ReadCloser, error) { return os.Open(local) }})
	}
	for _, name := range order {
		sc := byScan[name]
		for _, key := range resOrder[name] {
			sc.Resources = append(sc.Resources, *res[key])
		}
		s.Scans = append(s.Scans, *sc)
	}
	return s
}
