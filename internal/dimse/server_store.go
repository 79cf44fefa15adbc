package dimse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aisedge/aisedge/internal/dicom"
	"github.com/aisedge/aisedge/internal/fsutil"
)

// spoolCheckEvery is how many bytes are written between free-space checks.
const spoolCheckEvery = 32 << 20

// spool is an instance being received: in memory while it fits in
// ServerConfig.MemoryBytes, then (or from the start) in its temporary file.
type spool struct {
	mem       []byte // the instance so far, while f is nil
	limit     int64  // largest instance kept in memory (0: none)
	get       func() (*os.File, error)
	f         *os.File // the temporary file, once there is one
	w         *bufio.Writer
	n         int64 // bytes written, header included
	dataOff   int64
	nextCheck int64
}

// write appends p, moving what is in memory to a temporary file when the
// instance outgrows the memory limit.
func (sp *spool) write(p []byte) error {
	if sp.f == nil {
		if int64(len(sp.mem)+len(p)) <= sp.limit {
			sp.mem = append(sp.mem, p...)
			return nil
		}
		f, err := sp.get()
		if err != nil {
			return err
		}
		sp.f = f
		sp.w.Reset(f)
		if _, err := sp.w.Write(sp.mem); err != nil {
			return err
		}
		sp.mem = sp.mem[:0]
	}
	_, err := sp.w.Write(p)
	return err
}

// inMemory reports whether the whole instance is in sp.mem.
func (sp *spool) inMemory() bool { return sp.f == nil }

func (sp *spool) discard() {
	if sp == nil || sp.f == nil {
		return
	}
	sp.f.Close()
	os.Remove(sp.f.Name())
}

// spaceStatus returns A700 when TempDir's file system is below the watermark.
func (s *Server) spaceStatus() *StatusError {
	if s.cfg.MinFreeBytes < 0 {
		return nil
	}
	free, err := freeBytes(s.cfg.TempDir)
	if err != nil {
		return NewStatusError(StatusOutOfResources, "cannot check free space", err)
	}
	if free < s.cfg.MinFreeBytes {
		return NewStatusError(StatusOutOfResources, "storage below free-space watermark", nil)
	}
	return nil
}

func ioStatus(what string, err error) *StatusError {
	return NewStatusError(StatusOutOfResources, what, err)
}

func (s *Server) openSpool(a *assoc, pc *PresentationContext, cmd *Command) (*spool, *StatusError) {
	if st := s.spaceStatus(); st != nil {
		return nil, st
	}
	// One write buffer per association, reused for each of its instances;
	// an instance received into memory gets a buffer of its own, which
	// the handler keeps (Instance.Data).
	if a.spoolW == nil {
		a.spoolW = bufio.NewWriterSize(nil, 256<<10)
	}
	sp := &spool{limit: s.cfg.MemoryBytes, get: s.pool.get, w: a.spoolW, nextCheck: spoolCheckEvery}
	if sp.limit > 0 && a.memHint > 0 {
		sp.mem = make([]byte, 0, min(int64(a.memHint+a.memHint/8), sp.limit))
	}
	if sp.limit <= 0 {
		f, err := s.pool.get()
		if err != nil {
			return nil, ioStatus("cannot create temporary file", err)
		}
		sp.f = f
		sp.w.Reset(f)
	}
	hdr, err := part10Header(cmd.AffectedSOPClassUID, cmd.AffectedSOPInstanceUID, pc.TransferSyntax, a.callingAET)
	if err != nil {
		sp.discard()
		return nil, ioStatus("cannot build file meta", err)
	}
	if err := sp.write(hdr); err != nil {
		sp.discard()
		return nil, ioStatus("cannot write file meta", err)
	}
	sp.n = int64(len(hdr))
	sp.dataOff = sp.n
	return sp, nil
}

// part10Header returns the preamble, "DICM" and file meta group for an
// instance. Only the bytes the group length covers are kept: for a
// deflated syntax dicom.WriteFileHeader also emits an empty deflate stream
// for its empty data set, which must not precede the received one.
func part10Header(sopClass, sopInstance, ts, sourceAET string) ([]byte, error) {
	meta := dicom.NewFileMeta(sopClass, sopInstance, ts)
	if sourceAET != "" {
		meta.SetString(dicom.TagSourceApplicationEntityTitle, dicom.AE, sourceAET)
	}
	var buf bytes.Buffer
	if err := dicom.WriteFileHeader(&buf, meta); err != nil {
		return nil, err
	}
	off, err := Part10DataOffset(bytes.NewReader(buf.Bytes()))
	if err != nil || off > int64(buf.Len()) {
		return nil, fmt.Errorf("dimse: unexpected file meta layout: %v", err)
	}
	return buf.Bytes()[:off], nil
}

func (s *Server) handleStore(a *assoc, pcid byte, cmd *Command) error {
	pc := a.contexts[pcid]
	rsp := &Command{
		Field: CStoreRSP, MessageIDBeingRespondedTo: cmd.MessageID,
		AffectedSOPClassUID: cmd.AffectedSOPClassUID, AffectedSOPInstanceUID: cmd.AffectedSOPInstanceUID,
	}
	log := a.log.With("sop_instance", s.cfg.UIDHash.Hash(cmd.AffectedSOPInstanceUID))
	var status *StatusError
	switch {
	case !cmd.HasDataSet:
		status = NewStatusError(StatusCannotUnderstand, "C-STORE-RQ without data set", nil)
	case pc.AbstractSyntax == VerificationSOPClass || cmd.AffectedSOPClassUID != pc.AbstractSyntax:
		status = NewStatusError(StatusSOPClassNotSupported, "SOP class does not match the presentation context", nil)
	case cmd.AffectedSOPInstanceUID == "" || len(cmd.AffectedSOPInstanceUID) > 64:
		status = NewStatusError(StatusCannotUnderstand, "missing or invalid Affected SOP Instance UID", nil)
	}
	var sp *spool
	if status == nil {
		sp, status = s.openSpool(a, pc, cmd)
	}
	if cmd.HasDataSet {
		for {
			pdv, other, err := a.nextPDV(s.cfg.DataTimeout, false)
			if err == nil && other != nil {
				err = a.unexpected(other)
			}
			if err == nil && (pdv.Command || pdv.ContextID != pcid) {
				err = protoErr(AbortReasonUnexpectedParameter, "data set fragments interleaved with other PDVs")
			}
			if err != nil {
				// Nothing is acknowledged and nothing half-written stays.
				sp.discard()
				s.Metrics.StoresFailed.Add(1)
				return err
			}
			s.Metrics.BytesReceived.Add(int64(len(pdv.Data)))
			if sp != nil {
				if err := sp.write(pdv.Data); err != nil {
					status = ioStatus("write failed", err)
				} else if sp.n += int64(len(pdv.Data)); sp.n >= sp.nextCheck {
					sp.nextCheck += spoolCheckEvery
					status = s.spaceStatus()
				}
				if status != nil {
					sp.discard()
					sp = nil
				}
			}
			if pdv.Last {
				break
			}
		}
	}
	if sp != nil {
		status = s.finishStore(a, pc, cmd, sp, log)
	}
	if status != nil {
		s.Metrics.StoresFailed.Add(1)
		a.failed.Add(1)
		rsp.Status = status.Status
		rsp.ErrorComment = status.Comment
		lvl := slog.LevelWarn
		if KindOf(status.Status) == KindWarning {
			lvl = slog.LevelInfo
		}
		log.Log(context.Background(), lvl, "C-STORE not stored as success", "status", fmt.Sprintf("0x%04X", status.Status), "err", fsutil.PublicError(status))
		if KindOf(status.Status) == KindWarning {
			s.Metrics.StoresFailed.Add(-1)
			s.Metrics.StoresOK.Add(1)
			a.failed.Add(-1)
			a.stored.Add(1)
		}
	} else {
		s.Metrics.StoresOK.Add(1)
		a.stored.Add(1)
		log.Debug("instance stored", "bytes", sp.n)
	}
	return a.sendMessage(pcid, rsp, nil, 0)
}

// finishStore flushes, validates, fsyncs and hands over the instance; the
// temporary file is gone when it returns.
func (s *Server) finishStore(a *assoc, pc *PresentationContext, cmd *Command, sp *spool, log *slog.Logger) (status *StatusError) {
	defer sp.discard() // the handler has linked or renamed what it keeps
	in := &Instance{
		Size: sp.n, DataOffset: sp.dataOff,
		SOPClassUID: cmd.AffectedSOPClassUID, SOPInstanceUID: cmd.AffectedSOPInstanceUID,
		TransferSyntaxUID: pc.TransferSyntax,
		CallingAET:        a.callingAET, CalledAET: a.calledAET,
		Remote: a.conn.RemoteAddr(), Assoc: a.id,
	}
	if sp.inMemory() {
		in.Data = sp.mem
		a.memHint = len(sp.mem)
		in.materialize = func() error { return s.materialize(in, sp) }
		if err := s.cfg.Validate(in, dicom.NewBytesReader(sp.mem)); err != nil {
			return asStatus(err, StatusCannotUnderstand)
		}
	} else {
		if err := sp.w.Flush(); err != nil {
			return ioStatus("write failed", err)
		}
		in.Path = sp.f.Name()
		if err := s.cfg.Validate(in, sp.f); err != nil {
			return asStatus(err, StatusCannotUnderstand)
		}
		if s.cfg.HandlerSyncs {
			in.Sync = func() error { return fdatasync(sp.f) }
		} else if err := fdatasync(sp.f); err != nil {
			return ioStatus("fsync failed", err)
		}
	}
	// The file stays open (sp.discard closes it) while the handler reads
	// the values in.File refers to.
	if err := s.cfg.Handler.Store(s.baseCtx, in); err != nil {
		return asStatus(err, StatusOutOfResources)
	}
	return nil
}

// materialize writes an instance received into memory to a temporary file
// and flushes it, for a handler that keeps a file (Instance.Materialize);
// the file is removed with the spool's after the handler returns.
func (s *Server) materialize(in *Instance, sp *spool) error {
	if sp.f != nil {
		return nil
	}
	f, err := s.pool.get()
	if err != nil {
		return err
	}
	sp.f = f
	if _, err := f.Write(in.Data); err != nil {
		return err
	}
	if err := fdatasync(f); err != nil {
		return err
	}
	in.Path = f.Name()
	return nil
}

func asStatus(err error, def uint16) *StatusError {
	var se *StatusError
	if errors.As(err, &se) {
		return se
	}
	return NewStatusError(def, "", err)
}

// ValidateInstance is the default ServerConfig.Validate: the data set must
// parse in the negotiated transfer syntax (C000 otherwise) and carry the
// SOP Class and Instance UIDs of the command (A900 otherwise). The parsed
// file is handed to the handler as in.File; large values are not loaded.
func ValidateInstance(in *Instance, r io.ReaderAt) error {
	f, err := dicom.ParseFile(io.NewSectionReader(r, 0, in.Size), nil)
	if err != nil {
		return NewStatusError(StatusCannotUnderstand, "data set does not parse", err)
	}
	if f.Meta == nil || f.TransferSyntax.UID != in.TransferSyntaxUID {
		return NewStatusError(StatusCannotUnderstand, "data set does not parse", fmt.Errorf("file header does not name the negotiated transfer syntax"))
	}
	ds := f.Dataset
	if got := ds.String(dicom.TagSOPInstanceUID); got != in.SOPInstanceUID {
		return NewStatusError(StatusDataSetMismatch, "SOP Instance UID differs from the command", nil)
	}
	if got := ds.String(dicom.TagSOPClassUID); got != in.SOPClassUID {
		return NewStatusError(StatusDataSetMismatch, "SOP Class UID differs from the command", nil)
	}
	in.File = f
	return nil
}
