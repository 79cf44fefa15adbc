package deid

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Outcome of processing one input file.
type Outcome struct {
	// OutputPath is the de-identified file (empty when quarantined):
	// OUT/<PROJECT.SUBJECT.VISIT>/<new SOP Instance UID>.dcm (the session folder).
	OutputPath string
	// Report is the value-free report (also of a quarantined input, when
	// it got that far), Reasons why the input is quarantined (none when it
	// was written). The caller keeps a quarantined input (the command puts
	// it in internal/quarantine's folder, named by InputID).
	Report     *Report
	Reasons    []Reason
	InputBytes int64
}

// Quarantined reports whether the input was quarantined.
func (o *Outcome) Quarantined() bool { return len(o.Reasons) > 0 }

// ProcessFile de-identifies one file: parse, de-identify, serialise to a
// temporary file in outDir, run the gate on its bytes and on the derived
// names, then rename it into place (after fsync), or decide to quarantine
// the input with value-free reasons. The input file is never modified.
//
// The returned error is set only when nothing could be decided (I/O
// failures: ErrTransient); invalid input yields a quarantine Outcome.
func (e *Engine) ProcessFile(ctx context.Context, inPath, outDir string) (*Outcome, error) {
	if err := ctx.Err(); err != nil {
		return nil, transient("process", err)
	}
	start := time.Now()
	st, err := os.Stat(inPath)
	if err != nil {
		return nil, transient("process", err)
	}
	o := &Outcome{InputBytes: st.Size()}
	f, err := dicom.Open(inPath, nil)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return nil, transient("process", err)
		}
		return e.quarantine(o, nil, []Reason{{Code: "parse-failed", Detail: parseDetail(err)}})
	}
	defer f.Close()
	res, err := e.Deidentify(f, Options{})
	if err != nil {
		return e.quarantine(o, nil, []Reason{{Code: "deidentify-failed", Detail: err.Error()}})
	}
	o.Report = res.Report
	if res.Quarantined() {
		return e.quarantine(o, res.Report, res.Reasons)
	}
	dir := filepath.Join(outDir, res.Session.Folder())
	if err := os.MkdirAll(outDir, 0o750); err != nil {
		return nil, transient("process", err)
	}
	tmp, err := os.CreateTemp(outDir, ".deid-*.tmp")
	if err != nil {
		return nil, transient("process", err)
	}
	tmpName := tmp.Name()
	cleanup := func() { tmp.Close(); os.Remove(tmpName) }
	if err := dicom.WriteFile(tmp, res.File); err != nil {
		cleanup()
		if errors.Is(err, dicom.ErrSkippedValue) {
			return e.quarantine(o, res.Report, []Reason{{Code: "encode-failed", Detail: err.Error()}})
		}
		return nil, transient("write", err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		cleanup()
		return nil, transient("write", err)
	}
	outPath := filepath.Join(dir, res.FileName)
	rel, _ := filepath.Rel(outDir, outPath)
	g, err := e.Verify(res, tmp, size, rel)
	if err != nil {
		cleanup()
		return nil, err
	}
	if !g.Passed {
		cleanup()
		return e.quarantine(o, res.Report, res.Reasons)
	}
	if err := tmp.Sync(); err != nil {
		cleanup()
		return nil, transient("write", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmpName)
		return nil, transient("write", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		os.Remove(tmpName)
		return nil, transient("write", err)
	}
	if err := os.Rename(tmpName, outPath); err != nil {
		os.Remove(tmpName)
		return nil, transient("write", err)
	}
	syncDir(dir)
	o.OutputPath = outPath
	e.log.Info("instance deidentified", "sop", res.SOPInstanceUID, "session", res.Session.Folder(),
		"bytes", size, "duration_ms", time.Since(start).Milliseconds())
	return o, nil
}

func parseDetail(err error) string {
	var pe *dicom.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("%v at offset %d", pe.Kind, pe.Offset)
	}
	return "not a readable DICOM file"
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// quarantine decides that the input is quarantined, with reasons.
func (e *Engine) quarantine(o *Outcome, rep *Report, reasons []Reason) (*Outcome, error) {
	o.Reasons = reasons
	if rep != nil {
		rep.finish(reasons)
	}
	o.Report = rep
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	e.log.Warn("instance quarantined", "reasons", codes)
	return o, nil
}

// InputID names an input without revealing it: the first 16 hex digits of
// a keyed hash (the key's log-id sub-key) of its bytes. An unkeyed digest
// would let anyone holding the original find it.
func (e *Engine) InputID(r io.Reader) (string, error) {
	h := hmac.New(sha256.New, e.keys.logID)
	if _, err := io.Copy(h, r); err != nil {
		return "", transient("input id", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
