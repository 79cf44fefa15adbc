package hub

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/manifest"
)

// DICOMweb is a Destination that stores each session's instances in a
// DICOMweb service with STOW-RS (PS3.18 §10.5), as they are (the Part 10
// files, byte for byte). Like a PACS over DIMSE, the service files them by
// their own patient, study and series attributes.
//
// Before sending, it asks QIDO-RS which instances of each study the
// service holds and sends only the others, so a redelivery (after a crash,
// or of a generation the hub delivered but had not recorded) fills only
// the gaps, and a service keying instances by SOP Instance UID never holds
// one twice. Verified means the STOW-RS response lists every instance
// sent as stored (none in its Failed SOP Sequence) and a QIDO-RS query
// afterwards finds every instance of the generation.
//
// Error classes: 401 and 403, and failure reason 0124 (not authorised),
// are ErrCredentials; a file that is not DICOM, 400, 404 (no such service),
// 409 and 413 to 415 and failure reasons other than "out of resources"
// (A7xx) and "processing failure" (0110) are permanent; everything else
// (no connection, 408, 429, 5xx, a timeout) is transient.
type DICOMweb struct {
	// ID is the destination's name (default "dicomweb").
	ID string
	// URL is the service's DICOMweb root, e.g.
	// https://pacs.example.org/dicom-web (STOW-RS at URL/studies).
	URL string
	// Client sends the requests (nil: http.DefaultClient).
	Client *http.Client
	// Auth returns the credentials, read again for every delivery and
	// resume (the secret files); nil: none.
	Auth func() (DICOMwebAuth, error)
	// BatchBytes bounds the files of one STOW-RS request (default 64 MiB;
	// a larger file goes alone).
	BatchBytes int64
	Log        *slog.Logger
}

// DICOMwebAuth is HTTP basic authentication (Username, Password) or a
// bearer token.
type DICOMwebAuth struct {
	Username, Password, Token string
}

// Name implements Destination.
func (w *DICOMweb) Name() string { return cmp.Or(w.ID, "dicomweb") }

// stowFile is one instance to store.
type stowFile struct {
	path, rel          string
	study, sopInstance string
	size               int64
}

// Deliver implements Destination.
func (w *DICOMweb) Deliver(ctx context.Context, m *manifest.Manifest, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	auth, err := w.auth()
	if err != nil {
		return err
	}
	var files []stowFile
	studies := map[string]bool{}
	for _, f := range m.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		df, err := dicom.Open(p, &dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			if _, serr := os.Stat(p); serr != nil {
				return fmt.Errorf("dicomweb: reading %s: %w", f.Path, unwrapPath(serr))
			}
			return fmt.Errorf("%w: dicomweb: %s is not a DICOM instance", ErrPermanent, f.Path)
		}
		sf := stowFile{path: p, rel: f.Path, study: df.Dataset.String(dicom.TagStudyInstanceUID),
			sopInstance: df.Dataset.String(dicom.TagSOPInstanceUID), size: f.Size}
		df.Close()
		if sf.study == "" || sf.sopInstance == "" {
			return fmt.Errorf("%w: dicomweb: %s has no Study or SOP Instance UID", ErrPermanent, f.Path)
		}
		files = append(files, sf)
		studies[sf.study] = true
	}
	held, err := w.held(ctx, auth, studies)
	if err != nil {
		return err
	}
	var pending []stowFile
	for _, f := range files {
		if !held[f.sopInstance] {
			pending = append(pending, f)
		}
	}
	sent, heldBefore := 0, len(files)-len(pending)
	limit := cmp.Or(w.BatchBytes, 64<<20)
	for len(pending) > 0 {
		n, size := 0, int64(0)
		for n < len(pending) && (n == 0 || size+pending[n].size <= limit) {
			size += pending[n].size
			n++
		}
		if err := w.store(ctx, auth, pending[:n]); err != nil {
			return err
		}
		sent += n
		pending = pending[n:]
	}
	cmp.Or(w.Log, slog.New(slog.DiscardHandler)).Info("instances sent", "destination", w.Name(), "session", m.Folder,
		"generation", m.Generation, "sent", sent, "held_before", heldBefore)
	if held, err = w.held(ctx, auth, studies); err != nil {
		return err
	}
	missing := 0
	for _, f := range files {
		if !held[f.sopInstance] {
			missing++
		}
	}
	if missing > 0 {
		return fmt.Errorf("dicomweb: %d of %d instances not found by QIDO-RS after STOW-RS", missing, len(files))
	}
	return nil
}

func (w *DICOMweb) auth() (DICOMwebAuth, error) {
	if w.Auth == nil {
		return DICOMwebAuth{}, nil
	}
	a, err := w.Auth()
	if err != nil {
		return a, fmt.Errorf("%w: reading the DICOMweb credentials: %w", ErrCredentials, err)
	}
	return a, nil
}

func (w *DICOMweb) do(ctx context.Context, auth DICOMwebAuth, method, path string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(w.URL, "/")+path, body)
	if err != nil {
		return nil, fmt.Errorf("%w: dicomweb: %w", ErrPermanent, err)
	}
	req.ContentLength = size
	for k, v := range header {
		req.Header[k] = v
	}
	switch {
	case auth.Token != "":
		req.Header.Set("Authorization", "Bearer "+auth.Token)
	case auth.Username != "":
		req.SetBasicAuth(auth.Username, auth.Password)
	}
	resp, err := cmp.Or(w.Client, http.DefaultClient).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return nil, fmt.Errorf("dicomweb: %s %s: %w", method, path, err)
	}
	return resp, nil
}

// httpStatus classifies an unexpected answer.
func httpStatus(what string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	err := fmt.Errorf("dicomweb: %s: %s", what, resp.Status)
	if msg := strings.TrimSpace(string(b)); msg != "" && !strings.ContainsAny(msg, "<{") {
		err = fmt.Errorf("%w: %s", err, msg)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrCredentials, err)
	case c == http.StatusBadRequest || c == http.StatusNotFound || c == http.StatusConflict || c >= 413 && c <= 415:
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return err
}

// held asks QIDO-RS which SOP Instance UIDs of the studies the service
// holds.
func (w *DICOMweb) held(ctx context.Context, auth DICOMwebAuth, studies map[string]bool) (map[string]bool, error) {
	out := map[string]bool{}
	for study := range studies {
		path := "/studies/" + url.PathEscape(study) + "/instances?includefield=00080018"
		resp, err := w.do(ctx, auth, "GET", path, nil, 0, http.Header{"Accept": {"application/dicom+json"}})
		if err != nil {
			return nil, err
		}
		err = func() error {
			defer resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotFound:
				return nil // no such study yet
			case resp.StatusCode != http.StatusOK:
				return httpStatus("QIDO-RS", resp)
			}
			var found []map[string]dicomJSON
			if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&found); err != nil {
				return fmt.Errorf("dicomweb: QIDO-RS answer: %w", err)
			}
			for _, inst := range found {
				for _, v := range values[string](inst["00080018"]) {
					out[v] = true
				}
			}
			return nil
		}()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dicomJSON is an attribute in the DICOM JSON model (PS3.18 §F.2).
type dicomJSON struct {
	VR    string            `json:"vr"`
	Value []json.RawMessage `json:"Value"`
}

// values decodes the attribute's values that are of type T.
func values[T any](a dicomJSON) []T {
	var out []T
	for _, v := range a.Value {
		var x T
		if json.Unmarshal(v, &x) == nil {
			out = append(out, x)
		}
	}
	return out
}

// store sends files in one STOW-RS request and checks the response.
func (w *DICOMweb) store(ctx context.Context, auth DICOMwebAuth, files []stowFile) error {
	var b [12]byte
	rand.Read(b[:])
	boundary := "aisedge-" + hex.EncodeToString(b[:])
	partHead := []byte("--" + boundary + "\r\nContent-Type: application/dicom\r\n\r\n")
	var readers []io.Reader
	var size int64
	var opened []*os.File
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	for _, f := range files {
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("dicomweb: reading %s: %w", f.rel, unwrapPath(err))
		}
		opened = append(opened, fh)
		st, err := fh.Stat()
		if err != nil {
			return fmt.Errorf("dicomweb: reading %s: %w", f.rel, unwrapPath(err))
		}
		readers = append(readers, bytes.NewReader(partHead), io.LimitReader(fh, st.Size()), strings.NewReader("\r\n"))
		size += int64(len(partHead)) + st.Size() + 2
	}
	tail := "--" + boundary + "--\r\n"
	readers = append(readers, strings.NewReader(tail))
	size += int64(len(tail))
	resp, err := w.do(ctx, auth, "POST", "/studies", io.MultiReader(readers...), size, http.Header{
		"Content-Type": {`multipart/related; type="application/dicom"; boundary=` + boundary},
		"Accept":       {"application/dicom+json"},
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusConflict:
	default:
		return httpStatus("STOW-RS", resp)
	}
	var answer map[string]dicomJSON
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err == nil && len(bytes.TrimSpace(raw)) > 0 {
		err = json.Unmarshal(raw, &answer)
	}
	if err != nil {
		return fmt.Errorf("dicomweb: STOW-RS answer (%s): %w", resp.Status, err)
	}
	// Failed SOP Sequence (0008,1198): items with Failure Reason (0008,1197).
	var reasons []int
	for _, item := range answer["00081198"].Value {
		var it map[string]dicomJSON
		if json.Unmarshal(item, &it) == nil {
			reasons = append(reasons, append(values[int](it["00081197"]), 0)[0])
		}
	}
	if len(reasons) == 0 && resp.StatusCode == http.StatusConflict {
		return httpStatus("STOW-RS", resp)
	}
	if len(reasons) == 0 {
		return nil
	}
	var permanent, transient error
	for _, r := range reasons {
		err := fmt.Errorf("dicomweb: STOW-RS: %d of %d instances not stored (failure reason 0x%04X)", len(reasons), len(files), r)
		switch {
		case r == 0x0124:
			return fmt.Errorf("%w: %w", ErrCredentials, err)
		case r&0xFF00 == 0xA700 || r == 0x0110:
			transient = cmp.Or(transient, err)
		default:
			permanent = cmp.Or(permanent, fmt.Errorf("%w: %w", ErrPermanent, err))
		}
	}
	return cmp.Or(permanent, transient)
}

// Resume implements Resumer: it reads the credentials again and asks
// QIDO-RS for one study.
func (w *DICOMweb) Resume(ctx context.Context) error {
	auth, err := w.auth()
	if err != nil {
		return err
	}
	resp, err := w.do(ctx, auth, "GET", "/studies?limit=1", nil, 0, http.Header{"Accept": {"application/dicom+json"}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return httpStatus("QIDO-RS", resp)
	}
	return nil
}
