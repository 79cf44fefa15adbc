// Command benchdata makes the instances of the C-STORE benchmark
// (bench/dimse/cstore_bench.sh) from the repository's sample files
// (testdata/dicom), so the benchmark needs nothing outside the repository:
//
//	benchdata templates DIR         DIR/small_MR.dcm and DIR/ct512.dcm
//	benchdata copies TEMPLATE DIR N N copies of TEMPLATE, each with its own SOP Instance UID
//	benchdata createcost DIR        CPU microseconds one file creation costs in DIR
//
// createcost is a diagnostic for the figures: every server of the benchmark
// creates a file or two per instance, and on some machines (this project's
// test VM among them) what a creation costs depends on where the file
// system placed the folder, from about 20 to 300 µs of CPU.
//
// small_MR.dcm is pydicom_MR_small_implicit.dcm (64x64 16-bit MR, 9,702
// bytes) with the Image Type of an original image (see SmallMR). ct512.dcm is pydicom_CT_small.dcm (128x128 16-bit CT)
// upscaled to 512x512 by bilinear interpolation with deterministic Gaussian
// noise (sd 8) added to every pixel that is not padding, so that its pixel
// data is not trivially compressible (about 531 kB; the attributes of
// CT_small otherwise, with Rows, Columns and Pixel Spacing adjusted and a
// SOP Instance UID of its own).
//
// Copies are for senders that read files (aisedge send) rather than invent
// UIDs (storescu +II): each copy's SOP Instance UID has the same length as
// the template's, so every length field stays valid and the bytes
// otherwise equal the template's.
//
// The sample folder is found from the working folder (run it inside the
// module) or given with -testdata.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/testpeer/sampledata"
)

func main() {
	fs := flag.NewFlagSet("benchdata", flag.ExitOnError)
	testdata := fs.String("testdata", "", "sample DICOM `folder` (default: testdata/dicom of the module around the working folder)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchdata [-testdata DIR] templates OUTDIR\n       benchdata copies TEMPLATE OUTDIR N\n       benchdata createcost DIR")
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	args := fs.Args()
	var err error
	switch {
	case len(args) == 2 && args[0] == "templates":
		src := *testdata
		if src == "" {
			if src, err = sampledata.Locate(); err != nil {
				break
			}
		}
		err = Templates(src, args[1])
	case len(args) == 4 && args[0] == "copies":
		var n int
		if n, err = strconv.Atoi(args[3]); err != nil || n < 1 {
			err = fmt.Errorf("copies: N must be a positive number, not %q", args[3])
			break
		}
		err = Copies(args[1], args[2], n)
	case len(args) == 2 && args[0] == "createcost":
		var us float64
		if us, err = CreateCost(args[1], 200); err == nil {
			fmt.Printf("%.0f\n", us)
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdata:", err)
		os.Exit(1)
	}
}

// Templates writes small_MR.dcm and ct512.dcm into out from the sample
// folder src.
func Templates(src, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	mr, err := SmallMR(filepath.Join(src, "pydicom_MR_small_implicit.dcm"))
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(out, "small_MR.dcm"), mr); err != nil {
		return err
	}
	ct, err := CT512(filepath.Join(src, "pydicom_CT_small.dcm"))
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(out, "ct512.dcm"), ct)
}

// SmallMR returns the MR at path with Image Type ORIGINAL\PRIMARY\OTHER,
// as a scanner sends it: the sample says DERIVED\SECONDARY, which the
// de-identification's pixel-risk rules quarantine (a derived image may
// carry burned-in text), and the benchmark times the path of an image that
// goes through.
func SmallMR(path string) ([]byte, error) {
	f, err := dicom.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	f.Dataset.SetString(dicom.MustTag("ImageType"), dicom.CS, `ORIGINAL\PRIMARY\OTHER`)
	var b bytes.Buffer
	if err := dicom.WriteFile(&b, f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ct512UID is the SOP Instance UID of the upscaled CT (a fixed UUID-derived
// UID: the template is the same on every machine).
const ct512UID = "2.25.178292874590447218310145712373389214722"

// CT512 returns the CT at path (16-bit, one frame, native pixel data)
// upscaled by four in each direction.
func CT512(path string) ([]byte, error) {
	f, err := dicom.Open(path, nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds := f.Dataset
	rows, _ := ds.Uint16(dicom.MustTag("Rows"))
	cols, _ := ds.Uint16(dicom.MustTag("Columns"))
	bits, _ := ds.Uint16(dicom.MustTag("BitsAllocated"))
	signed, _ := ds.Uint16(dicom.MustTag("PixelRepresentation"))
	pe := ds.Get(dicom.TagPixelData)
	if bits != 16 || pe == nil || pe.IsEncapsulated() || f.TransferSyntax.UID != dicom.ExplicitVRLittleEndian {
		return nil, fmt.Errorf("%s: want one frame of native 16-bit pixels in explicit VR little endian", path)
	}
	px, err := pe.Bytes()
	if err != nil {
		return nil, err
	}
	r, c := int(rows), int(cols)
	if len(px) < 2*r*c {
		return nil, fmt.Errorf("%s: %d bytes of pixel data for %dx%d", path, len(px), r, c)
	}
	at := func(y, x int) float64 {
		y, x = min(max(y, 0), r-1), min(max(x, 0), c-1)
		v := binary.LittleEndian.Uint16(px[2*(y*c+x):])
		if signed == 1 {
			return float64(int16(v))
		}
		return float64(v)
	}
	lo, hi := 0.0, 65535.0
	if signed == 1 {
		lo, hi = -32768, 32767
	}
	padding, hasPadding := int64(0), false
	if e := ds.Get(dicom.MustTag("PixelPaddingValue")); e != nil {
		if v, err := e.Ints(); err == nil && len(v) == 1 {
			padding, hasPadding = v[0], true
		}
	}
	const k = 4
	R, C := r*k, c*k
	out := make([]byte, 2*R*C)
	rng := rand.New(rand.NewPCG(512, 512))
	for y := range R {
		sy := (float64(y)+0.5)/k - 0.5
		y0 := int(math.Floor(sy))
		fy := sy - float64(y0)
		for x := range C {
			sx := (float64(x)+0.5)/k - 0.5
			x0 := int(math.Floor(sx))
			fx := sx - float64(x0)
			var v float64
			if near := at(int(math.Round(sy)), int(math.Round(sx))); hasPadding && near == float64(padding) {
				v = near // padding stays padding
			} else {
				v = (1-fy)*((1-fx)*at(y0, x0)+fx*at(y0, x0+1)) + fy*((1-fx)*at(y0+1, x0)+fx*at(y0+1, x0+1))
				v = math.Round(v + 8*rng.NormFloat64())
			}
			v = min(max(v, lo), hi)
			if signed == 1 {
				binary.LittleEndian.PutUint16(out[2*(y*C+x):], uint16(int16(v)))
			} else {
				binary.LittleEndian.PutUint16(out[2*(y*C+x):], uint16(v))
			}
		}
	}
	ds.SetUint16(dicom.MustTag("Rows"), uint16(R))
	ds.SetUint16(dicom.MustTag("Columns"), uint16(C))
	if sp := ds.Strings(dicom.MustTag("PixelSpacing")); len(sp) == 2 {
		a, _ := strconv.ParseFloat(strings.TrimSpace(sp[0]), 64)
		b, _ := strconv.ParseFloat(strings.TrimSpace(sp[1]), 64)
		ds.SetString(dicom.MustTag("PixelSpacing"), dicom.DS, strconv.FormatFloat(a/k, 'f', 6, 64), strconv.FormatFloat(b/k, 'f', 6, 64))
	}
	ds.SetBytes(dicom.TagPixelData, dicom.OW, out)
	ds.SetString(dicom.TagSOPInstanceUID, dicom.UI, ct512UID)
	f.Meta.SetString(dicom.TagMediaStorageSOPInstanceUID, dicom.UI, ct512UID)
	var buf bytes.Buffer
	if err := dicom.WriteFile(&buf, f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Copies writes n copies of the file tpl into out as 000000.dcm,
// 000001.dcm, ..., each with its own SOP Instance UID of the template
// UID's length (the meta header's copy changed with it).
func Copies(tpl, out string, n int) error {
	data, err := os.ReadFile(tpl)
	if err != nil {
		return err
	}
	f, err := dicom.ParseFile(bytes.NewReader(data), &dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return fmt.Errorf("%s: %w", tpl, err)
	}
	uid := f.Dataset.String(dicom.TagSOPInstanceUID)
	if uid == "" || !bytes.Contains(data, []byte(uid)) {
		return fmt.Errorf("%s: SOP Instance UID not found in the file bytes", tpl)
	}
	k := len(strconv.Itoa(max(n-1, 1))) + 1
	if len(uid) <= k+2 {
		return fmt.Errorf("%s: SOP Instance UID %s too short to vary", tpl, uid)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for i := range n {
		// The last k characters become "9" and i zero-padded: a digit
		// run that never starts with 0, the same length for every i.
		nu := fmt.Sprintf("%s9%0*d", uid[:len(uid)-k], k-1, i)
		b := bytes.ReplaceAll(data, []byte(uid), []byte(nu))
		if i == 0 {
			if err := checkCopy(b, nu); err != nil {
				return fmt.Errorf("%s: copy: %w", tpl, err)
			}
		}
		if err := os.WriteFile(filepath.Join(out, fmt.Sprintf("%06d.dcm", i)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// checkCopy parses a copy and checks both its SOP Instance UIDs.
func checkCopy(b []byte, uid string) error {
	f, err := dicom.ParseFile(bytes.NewReader(b), &dicom.ParseOptions{StopAtPixelData: true})
	if err != nil {
		return err
	}
	if got := f.Dataset.String(dicom.TagSOPInstanceUID); got != uid {
		return fmt.Errorf("SOP Instance UID %q, want %q", got, uid)
	}
	if f.Meta != nil {
		if got := f.Meta.String(dicom.TagMediaStorageSOPInstanceUID); got != uid {
			return fmt.Errorf("Media Storage SOP Instance UID %q, want %q", got, uid)
		}
	}
	return nil
}

// writeFile writes b to path through a temporary file, so an interrupted
// run leaves no truncated template for the next to reuse.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// CreateCost creates n empty files in dir (made if missing), removes them,
// and returns the process CPU time (user and system) per creation in
// microseconds.
func CreateCost(dir string, n int) (float64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	names := make([]string, n)
	for i := range names {
		names[i] = filepath.Join(dir, fmt.Sprintf(".createcost-%d", i))
	}
	defer func() {
		for _, p := range names {
			os.Remove(p)
		}
	}()
	start := cpuTime()
	for _, p := range names {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return 0, err
		}
		f.Close()
	}
	return float64((cpuTime() - start).Microseconds()) / float64(n), nil
}

// cpuTime is the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
