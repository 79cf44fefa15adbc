package deid

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	// OUT/<session label>/<new SOP Instance UID>.dcm.
	OutputPath string
	// QuarantinePath is the quarantine directory of the input (empty when
	// not quarantined): QUARANTINE/<keyed input hash>/ holding a copy of
	// the input and reason.json.
	QuarantinePath string
	Report         *Report
	Reasons        []Reason
	InputBytes     int64
}

// Quarantined reports whether the input was quarantined.
func (o *Outcome) Quarantined() bool { return len(o.Reasons) > 0 }

// ProcessFile de-identifies one file: parse, de-identify, serialise to a
// temporary file in outDir, run the gate on its bytes and on the derived
// names, then rename it into place (after fsync) or quarantine the input
// with a value-free reason. The input file is never modified.
//
// The returned error is set only when nothing could be decided (I/O
// failures: ErrTransient); invalid input yields a quarantine Outcome.
func (e *Engine) ProcessFile(ctx context.Context, inPath, outDir, quarantineDir string) (*Outcome, error) {
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
		return e.quarantine(o, inPath, quarantineDir, nil, []Reason{{Code: "parse-failed", Detail: parseDetail(err)}})
	}
	defer f.Close()
	res, err := e.Deidentify(f, Options{})
	if err != nil {
		return e.quarantine(o, inPath, quarantineDir, nil, []Reason{{Code: "deidentify-failed", Detail: err.Error()}})
	}
	o.Report = res.Report
	if res.Quarantined() {
		return e.quarantine(o, inPath, quarantineDir, res.Report, res.Reasons)
	}
	dir := filepath.Join(outDir, res.SessionLabel)
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
			return e.quarantine(o, inPath, quarantineDir, res.Report, []Reason{{Code: "encode-failed", Detail: err.Error()}})
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
		return e.quarantine(o, inPath, quarantineDir, res.Report, res.Reasons)
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
	e.log.Info("instance deidentified", "sop", res.SOPInstanceUID, "session", res.SessionLabel,
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

// quarantine copies the input into QUARANTINE/<keyed hash>/input.dcm
// with reason.json beside it. Nothing there is derived from the input's
// identifiers (the directory name hashes the whole file).
func (e *Engine) quarantine(o *Outcome, inPath, qdir string, rep *Report, reasons []Reason) (*Outcome, error) {
	o.Reasons = reasons
	if rep != nil {
		rep.finish(reasons)
	}
	o.Report = rep
	in, err := os.Open(inPath)
	if err != nil {
		return nil, transient("quarantine", err)
	}
	defer in.Close()
	// Named by a keyed hash of the input (the key's log-id sub-key): an
	// unkeyed digest would let anyone holding the original find it.
	h := hmac.New(sha256.New, e.keys.logID)
	if _, err := io.Copy(h, in); err != nil {
		return nil, transient("quarantine", err)
	}
	id := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(qdir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, transient("quarantine", err)
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return nil, transient("quarantine", err)
	}
	if err := writeAtomic(filepath.Join(dir, "input.dcm"), func(w io.Writer) error { _, err := io.Copy(w, in); return err }); err != nil {
		return nil, transient("quarantine", err)
	}
	doc := struct {
		Engine  string   `json:"engine"`
		Input   string   `json:"inputSha256Prefix"`
		Reasons []Reason `json:"reasons"`
		Report  *Report  `json:"report,omitempty"`
	}{"AIS-Edge deid " + EngineVersion, id, reasons, rep}
	b, _ := json.MarshalIndent(doc, "", "  ")
	if err := writeAtomic(filepath.Join(dir, "reason.json"), func(w io.Writer) error { _, err := w.Write(append(b, '\n')); return err }); err != nil {
		return nil, transient("quarantine", err)
	}
	o.QuarantinePath = dir
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = r.Code
	}
	e.log.Warn("instance quarantined", "input", id, "reasons", codes)
	return o, nil
}

func writeAtomic(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".q-*.tmp")
	if err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}
