package hub

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/xnat"
)

// XNAT is the Destination of a production hub: it delivers each session
// generation through the XNAT client, which creates what is missing,
// uploads only the gaps, verifies every file's MD5 and has XNAT read the
// DICOM headers into the session.
type XNAT struct {
	// ID is the destination's name (default "xnat").
	ID     string
	Client *xnat.Client
	Opts   xnat.DeliverOptions
	// Credentials, if set, reads the account's credentials again (the
	// secret files) when delivery is paused on refused credentials; new
	// values are handed to the client before it tries to log in.
	Credentials func() (username, password string, err error)

	mu       sync.Mutex
	lastRead [2]string
}

// Name implements Destination.
func (x *XNAT) Name() string { return cmp.Or(x.ID, "xnat") }

// Deliver implements Destination. Refused credentials come back as
// ErrCredentials (the hub pauses), permanent failures as ErrPermanent.
func (x *XNAT) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	s := SessionFor(m, dir)
	if _, err := x.Client.Deliver(ctx, s, x.Opts); err != nil {
		return classifyXNAT(err)
	}
	return nil
}

func classifyXNAT(err error) error {
	switch {
	case xnat.IsPermanent(err):
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	case errors.Is(err, xnat.ErrAuth):
		return fmt.Errorf("%w: %w", ErrCredentials, err)
	}
	return err
}

// Resume implements Resumer: it reads the credentials again (handing them
// to the client only when they changed, so that a renewed alias token is
// not replaced by the stale one of the file) and logs in.
func (x *XNAT) Resume(ctx context.Context) error {
	if x.Credentials != nil {
		u, p, err := x.Credentials()
		if err != nil {
			return fmt.Errorf("%w: reading the XNAT credentials: %w", ErrCredentials, err)
		}
		x.mu.Lock()
		changed := x.lastRead != [2]string{u, p}
		x.lastRead = [2]string{u, p}
		x.mu.Unlock()
		if changed {
			if err := x.Client.SetCredentials(u, p); err != nil {
				return fmt.Errorf("%w: %w", ErrCredentials, err)
			}
		}
	}
	if err := x.Client.Login(ctx); err != nil {
		return classifyXNAT(err)
	}
	return nil
}

// NoteCredentials records the credentials the client was created with, so
// that Resume hands the client only credentials that changed since.
func (x *XNAT) NoteCredentials(username, password string) {
	x.mu.Lock()
	x.lastRead = [2]string{username, password}
	x.mu.Unlock()
}

// seriesHeader is what the hub reads from a file of a series.
type seriesHeader struct {
	sopClass, modality, imageType string
}

func readSeriesHeader(path string) (seriesHeader, bool) {
	df, err := dicom.Open(path, &dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return seriesHeader{}, false
	}
	defer df.Close()
	h := seriesHeader{sopClass: df.Dataset.String(dicom.NewTag(0x0008, 0x0016)),
		modality:  df.Dataset.String(dicom.NewTag(0x0008, 0x0060)),
		imageType: strings.Join(df.Dataset.Strings(dicom.NewTag(0x0008, 0x0008)), `\`)}
	return h, h.sopClass != ""
}

// ScanID is the XNAT scan ID of a staged series: its series number, as the
// original uploader names scans (folder <SeriesNumber>.<description>) and
// as XNAT's header pull keys them. A series without a number (the edge
// stages it as 0.<description>) keeps its folder name with '.' → '_', so
// that such series stay apart; the header pull is then not asked for
// (docs/xnat.md, "Delivering a session").
func ScanID(se manifest.Series) string {
	n := strings.TrimSpace(se.SeriesNumber)
	if v, err := strconv.Atoi(n); err == nil && v >= 0 {
		return strconv.Itoa(v)
	}
	return strings.ReplaceAll(se.Scan, ".", "_")
}

// SessionFor maps a manifest onto an XNAT session (docs/xnat.md, "Labels
// and IDs"): one scan per series number (ScanID; series that share a
// number share the scan, as in XNAT's own session builder), its type from
// the SOP classes of its files as XNAT 1.9 maps them (from the modality
// when no file is readable DICOM), the series description as type and
// description, and the staged resources (DICOM). A session with readable
// DICOM gets the header pull.
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
	filesOf := map[string][]string{} // staged folder → its files
	for _, f := range m.Files {
		folder, _, _ := strings.Cut(f.Path, "/")
		filesOf[folder] = append(filesOf[folder], f.Path)
	}
	byID := map[string]*xnat.Scan{}
	sops := map[string][]string{} // scan ID → SOP classes of its files
	first := map[string]seriesHeader{}
	scanOf := map[string]string{} // staged folder → scan ID
	var order []string
	for _, se := range m.Series {
		id := ScanID(se)
		scanOf[se.Scan] = id
		// XNAT types a scan by the SOP classes of all its files (with a
		// precedence), so every file's header is read.
		for _, p := range filesOf[se.Scan] {
			if h, ok := readSeriesHeader(filepath.Join(dir, filepath.FromSlash(p))); ok {
				sops[id] = append(sops[id], h.sopClass)
				if _, seen := first[id]; !seen {
					first[id] = h
				}
			}
		}
		if byID[id] == nil {
			byID[id] = &xnat.Scan{ScanSpec: xnat.ScanSpec{ID: id, Type: se.SeriesDescription, SeriesDescription: se.SeriesDescription}}
			order = append(order, id)
		}
		if byID[id].XSIType == "" {
			modality := se.Modality
			if modality == "" {
				modality = first[id].modality
			}
			byID[id].XSIType = xnat.ScanXSIType(modality, first[id].imageType, sessType) // if no SOP class is known
		}
	}
	for id, classes := range sops {
		s.PullHeaders = true
		if typ := xnat.ScanXSITypeForSOPClasses(classes...); typ != "" {
			byID[id].XSIType = typ
		}
	}
	res := map[string]*xnat.Resource{}
	resOrder := map[string][]string{} // scan ID → resource keys in first-seen order
	for _, f := range m.Files {
		parts := strings.SplitN(f.Path, "/", 3)
		id, ok := scanOf[parts[0]]
		if !ok {
			number, _, _ := strings.Cut(parts[0], ".")
			id = ScanID(manifest.Series{Scan: parts[0], SeriesNumber: number})
			if byID[id] == nil {
				byID[id] = &xnat.Scan{ScanSpec: xnat.ScanSpec{ID: id, XSIType: xnat.ScanXSIType("", "", sessType)}}
				order = append(order, id)
			}
			scanOf[parts[0]] = id
		}
		key := id + "/" + parts[1]
		r := res[key]
		if r == nil {
			r = &xnat.Resource{Label: parts[1], Format: "DICOM", Content: "RAW"}
			res[key] = r
			resOrder[id] = append(resOrder[id], key)
		}
		local := filepath.Join(dir, filepath.FromSlash(f.Path))
		r.Files = append(r.Files, xnat.File{Path: parts[2], Size: f.Size, MD5: f.MD5,
			Open: func() (io.ReadCloser, error) { return os.Open(local) }})
	}
	for _, id := range order {
		sc := byID[id]
		for _, key := range resOrder[id] {
			sc.Resources = append(sc.Resources, *res[key])
		}
		s.Scans = append(s.Scans, *sc)
	}
	return s
}
