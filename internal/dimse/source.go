package dimse

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aisedge/aisedge/internal/dicom"
)

// FileInstance describes a DICOM file to send with Client.StoreFile.
type FileInstance struct {
	Path                                           string
	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	// DataOffset is where the data set starts in the file: after the file
	// meta of a Part 10 file, 0 for a bare data set. -1 means the data set
	// cannot be sent as a byte range and is re-encoded.
	DataOffset int64
	Size       int64
}

// ErrNotSendable is wrapped by ReadFileInstance errors for files that are
// not a storable DICOM instance.
var ErrNotSendable = errors.New("not a sendable DICOM instance")

// ReadFileInstance reads what is needed to send a file: its transfer
// syntax, SOP Class and Instance UIDs (from the data set, as storescu does)
// and where the data set starts. Only the head of the file is read.
func ReadFileInstance(path string) (*FileInstance, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrNotSendable)
	}
	fi := &FileInstance{Path: path, Size: st.Size(), DataOffset: -1}
	br := bufio.NewReaderSize(f, 16<<10)
	head, _ := br.Peek(132)
	if len(head) == 132 && string(head[128:132]) == "DICM" {
		off, ts, ok := scanMeta(br)
		if ok {
			fi.DataOffset, fi.TransferSyntaxUID = off, ts
		}
	}
	if fi.DataOffset < 0 {
		// A bare data set, or a meta this scanner does not follow: let the
		// codec read it.
		df, err := dicom.Open(path, &dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrNotSendable, err)
		}
		defer df.Close()
		fi.TransferSyntaxUID = df.TransferSyntax.UID
		if df.Meta == nil && df.Preamble == nil {
			fi.DataOffset = 0
		}
		fi.SOPClassUID = df.Dataset.String(dicom.TagSOPClassUID)
		fi.SOPInstanceUID = df.Dataset.String(dicom.TagSOPInstanceUID)
	} else {
		ts, ok := dicom.LookupTransferSyntax(fi.TransferSyntaxUID)
		if !ok {
			return nil, fmt.Errorf("%s: %w: unknown transfer syntax %q", path, ErrNotSendable, fi.TransferSyntaxUID)
		}
		if _, err := f.Seek(fi.DataOffset, io.SeekStart); err != nil {
			return nil, err
		}
		fi.SOPClassUID, fi.SOPInstanceUID, err = scanSOPUIDs(bufio.NewReaderSize(f, 16<<10), ts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", path, ErrNotSendable, err)
		}
	}
	if fi.SOPClassUID == "" || fi.SOPInstanceUID == "" {
		return nil, fmt.Errorf("%s: %w: no SOP Class or Instance UID", path, ErrNotSendable)
	}
	return fi, nil
}

// scanMeta walks the group 0002 elements (Explicit VR Little Endian) after
// "DICM" and returns the offset of the data set and the transfer syntax.
func scanMeta(br *bufio.Reader) (int64, string, bool) {
	if _, err := br.Discard(132); err != nil {
		return 0, "", false
	}
	off := int64(132)
	ts := ""
	for {
		h, err := br.Peek(8)
		if err != nil {
			if errors.Is(err, io.EOF) && len(h) == 0 {
				return off, ts, ts != ""
			}
			return 0, "", false
		}
		if binary.LittleEndian.Uint16(h) != 0x0002 {
			return off, ts, ts != ""
		}
		elem := binary.LittleEndian.Uint16(h[2:])
		vr := string(h[4:6])
		if !(vr[0] >= 'A' && vr[0] <= 'Z' && vr[1] >= 'A' && vr[1] <= 'Z') {
			return 0, "", false // implicit VR meta: leave it to the codec
		}
		var hl, n int64
		switch vr {
		case "OB", "OW", "OF", "OD", "OL", "OV", "SQ", "UT", "UN", "UC", "UR", "SV", "UV":
			h, err = br.Peek(12)
			if err != nil {
				return 0, "", false
			}
			hl, n = 12, int64(binary.LittleEndian.Uint32(h[8:]))
		default:
			hl, n = 8, int64(binary.LittleEndian.Uint16(h[6:]))
		}
		if n < 0 || n > 1<<16 {
			return 0, "", false
		}
		if _, err := br.Discard(int(hl)); err != nil {
			return 0, "", false
		}
		if elem == 0x0010 {
			v, err := br.Peek(int(n))
			if err != nil {
				return 0, "", false
			}
			ts = trimUID(v)
		}
		if _, err := br.Discard(int(n)); err != nil {
			return 0, "", false
		}
		off += hl + n
	}
}

// scanSOPUIDs reads the top-level (0008,0016) and (0008,0018) values,
// stopping as soon as it is past them.
func scanSOPUIDs(r io.Reader, ts dicom.TransferSyntax) (class, inst string, err error) {
	d := dicom.NewDecoder(r, ts, dicom.Limits{})
	for {
		h, err := d.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return class, inst, nil
			}
			return class, inst, err
		}
		if d.Depth() != 0 || h.Kind != dicom.KindElement {
			continue
		}
		switch {
		case h.Tag == dicom.TagSOPClassUID || h.Tag == dicom.TagSOPInstanceUID:
			if h.Length > 1024 {
				return class, inst, errors.New("oversized SOP UID")
			}
			v, err := d.Value()
			if err != nil {
				return class, inst, err
			}
			if h.Tag == dicom.TagSOPClassUID {
				class = trimUID(v)
			} else {
				return class, trimUID(v), nil
			}
		case h.Tag > dicom.TagSOPInstanceUID:
			return class, inst, nil
		}
	}
}

// transcodable reports whether a data set in this syntax can be re-encoded
// without touching compressed pixel data.
func transcodable(uid string) bool {
	ts, ok := dicom.LookupTransferSyntax(uid)
	return ok && !ts.Encapsulated
}

// StoreFile sends one file with C-STORE and returns the peer's status.
// The data set is streamed from the file unchanged when a context with the
// file's transfer syntax was accepted; otherwise, if both the file's and an
// accepted syntax are uncompressed, it is re-encoded by the codec (never
// decompressed). A failure status comes back as a *StatusError; warning
// statuses return a nil error.
func (c *Client) StoreFile(ctx context.Context, fi *FileInstance) (uint16, error) {
	exact, _ := c.findContext(fi.SOPClassUID, fi.TransferSyntaxUID)
	var pc *PresentationContext
	transcode := false
	switch {
	case exact != nil && fi.DataOffset >= 0:
		pc = exact
	case exact != nil:
		pc, transcode = exact, true
	case transcodable(fi.TransferSyntaxUID):
		for _, p := range c.accepted {
			if p.AbstractSyntax == fi.SOPClassUID && transcodable(p.TransferSyntax) {
				pc, transcode = p, true
				break
			}
		}
	}
	if pc == nil {
		return 0, fmt.Errorf("%w for %s in %s", ErrNoContext, uidName(fi.SOPClassUID), uidName(fi.TransferSyntaxUID))
	}
	f, err := os.Open(fi.Path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var data io.Reader
	var size int64
	if !transcode {
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if _, err := f.Seek(fi.DataOffset, io.SeekStart); err != nil {
			return 0, err
		}
		data, size = f, st.Size()-fi.DataOffset
	} else {
		df, err := dicom.ParseFile(bufio.NewReader(f), nil)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrNotSendable, err)
		}
		var buf bytes.Buffer
		if err := dicom.WriteDataset(&buf, df.Dataset, pc.TransferSyntax); err != nil {
			return 0, fmt.Errorf("re-encoding to %s: %w", uidName(pc.TransferSyntax), err)
		}
		data, size = &buf, int64(buf.Len())
	}
	cmd := &Command{
		Field: CStoreRQ, MessageID: c.nextMsgID(), Priority: PriorityMedium,
		AffectedSOPClassUID: fi.SOPClassUID, AffectedSOPInstanceUID: fi.SOPInstanceUID,
	}
	rsp, err := c.roundTrip(ctx, pc.ID, cmd, data, size, CStoreRSP)
	if err != nil {
		return 0, err
	}
	if KindOf(rsp.Status) == KindFailure || KindOf(rsp.Status) == KindCancel {
		return rsp.Status, &StatusError{Status: rsp.Status, Comment: rsp.ErrorComment}
	}
	return rsp.Status, nil
}

func uidName(uid string) string {
	if e, ok := dicom.LookupUID(uid); ok {
		return e.Name
	}
	return uid
}

// ProposeFor builds presentation contexts for a set of files: for each SOP
// class, one context per distinct transfer syntax of its files (so that each
// file can travel unchanged), plus an Explicit/Implicit VR Little Endian
// fallback when some of its files are uncompressed. ok is false when more
// than 128 contexts would be needed.
func ProposeFor(files []*FileInstance) (ctxs []ContextProposal, ok bool) {
	type key struct{ class, ts string }
	seen := map[key]bool{}
	fallback := map[string]bool{}
	var order []string
	byClass := map[string][]string{}
	for _, fi := range files {
		k := key{fi.SOPClassUID, fi.TransferSyntaxUID}
		if _, ok := byClass[fi.SOPClassUID]; !ok {
			order = append(order, fi.SOPClassUID)
			byClass[fi.SOPClassUID] = nil
		}
		if !seen[k] {
			seen[k] = true
			byClass[fi.SOPClassUID] = append(byClass[fi.SOPClassUID], fi.TransferSyntaxUID)
		}
		if transcodable(fi.TransferSyntaxUID) {
			fallback[fi.SOPClassUID] = true
		}
	}
	for _, class := range order {
		for _, ts := range byClass[class] {
			ctxs = append(ctxs, ContextProposal{AbstractSyntax: class, TransferSyntaxes: []string{ts}})
		}
		if fallback[class] {
			ctxs = append(ctxs, ContextProposal{AbstractSyntax: class, TransferSyntaxes: []string{dicom.ExplicitVRLittleEndian, dicom.ImplicitVRLittleEndian}})
		}
	}
	return ctxs, len(ctxs) <= 128
}
