package dimse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/aisedge/aisedge/internal/dicom"
)

// Instance is one received C-STORE, written (and, unless
// ServerConfig.HandlerSyncs, fsynced) to disk as a Part 10 file at
// Path (temporary: the handler must rename it into its own place or it is
// deleted after Store returns).
type Instance struct {
	Path string
	// Size is the size of the file at Path, meta header included.
	Size int64
	// DataOffset is where the data set starts in the file (after the
	// preamble, "DICM" and the file meta group).
	DataOffset int64

	SOPClassUID, SOPInstanceUID, TransferSyntaxUID string
	CallingAET, CalledAET                          string
	Remote                                         net.Addr
	// Assoc is the association id, for logs.
	Assoc string
	// File is the instance as the validator parsed it (ValidateInstance
	// does), so that the handler need not parse it again; nil when the
	// validator did not. Its large values are read on demand from the
	// temporary file, which is open until the handler returns: a handler
	// that keeps the data set longer must load them first.
	File *dicom.File
	// Sync flushes the file at Path to disk, for a handler that keeps it
	// (links or renames it) under ServerConfig.HandlerSyncs; nil when the
	// server flushed it before calling the handler, or when the instance
	// is in memory.
	Sync func() error
	// Data is the instance (file meta header included) when the server
	// received it into memory (ServerConfig.MemoryBytes); Path is empty
	// then, until Materialize writes it to a file. Data is the handler's
	// to keep, and so is File when parsed from it (its values are views
	// of Data): the server allocates a buffer per instance.
	Data        []byte
	materialize func() error
}

// Materialize makes Path name a flushed file holding the instance, for a
// handler that keeps or links a file: an instance received into memory is
// written to a temporary file of the server's, removed after the handler
// returns. A no-op for an instance already in a file.
func (in *Instance) Materialize() error {
	if in.Path != "" || in.materialize == nil {
		return nil
	}
	return in.materialize()
}

// StoreHandler takes responsibility for a received instance. Returning nil
// means the instance is durably accepted (status 0000). Return a
// *StatusError to choose the failure or warning status (A700 out of
// resources, A900 mismatch, C000 cannot understand, B000 coercion warning
// ...); any other error is answered with A700 (the sender may retry). The
// handler is called from several associations at once, and the C-STORE-RSP
// is sent only after it returns.
type StoreHandler interface {
	Store(ctx context.Context, in *Instance) error
}

// StoreFunc adapts a function to StoreHandler.
type StoreFunc func(ctx context.Context, in *Instance) error

// Store implements StoreHandler.
func (f StoreFunc) Store(ctx context.Context, in *Instance) error { return f(ctx, in) }

// UIDHasher is what logs, events and quarantine entries show instead of
// an original UID: the first 12 hex digits of an HMAC-SHA256 of it under a
// key of the site's own. Unlike an unkeyed digest it cannot be linked to
// the original by anyone holding the images, and it changes with the key.
type UIDHasher struct{ key []byte }

// NewUIDHasher returns a hasher with the given key (the edge passes the
// de-identification key's log sub-key, deid.Keys.LogKey, so that hashes
// stay the same across restarts).
func NewUIDHasher(key []byte) *UIDHasher { return &UIDHasher{key: append([]byte(nil), key...)} }

// RandomUIDHasher returns a hasher with a key of its own that nothing
// keeps: hashes correlate lines of one process only.
func RandomUIDHasher() *UIDHasher {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return &UIDHasher{key: k}
}

// Hash returns the keyed identifier of uid. A nil hasher says "-".
func (h *UIDHasher) Hash(uid string) string {
	if h == nil {
		return "-"
	}
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(uid))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// DirStore is a StoreHandler that keeps each instance in one directory as
// <sha256-of-SOPInstanceUID>.dcm, made durable by a directory fsync before
// Store returns.
//
// Duplicate SOP Instance UIDs: a second copy whose data set bytes (after the
// file meta, which records the sender and differs harmlessly) are identical
// to a stored copy is acknowledged without storing it again (idempotent
// retries). A copy with different bytes is kept too, as
// <sha>-1.dcm, <sha>-2.dcm, ..., and a warning is logged: nothing received is
// ever silently dropped or overwritten; deciding which copy wins is left to
// a later stage.
type DirStore struct {
	Dir string
	Log *slog.Logger
	// UIDHash keys the hashes its logs show for SOP Instance UIDs (nil:
	// a key of its own).
	UIDHash *UIDHasher

	once    sync.Once
	dirFile *os.File
	openErr error
	mu      sync.Mutex // serialises name selection for duplicates
}

// NewDirStore creates dir if needed and returns a DirStore on it.
func NewDirStore(dir string, log *slog.Logger) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return &DirStore{Dir: dir, Log: log, UIDHash: RandomUIDHasher()}, nil
}

// maxDuplicates bounds the -N suffixes tried for one SOP Instance UID.
const maxDuplicates = 1000

// PathFor returns the primary file name for a SOP Instance UID.
func (d *DirStore) PathFor(sopInstanceUID string) string {
	h := sha256.Sum256([]byte(sopInstanceUID))
	return filepath.Join(d.Dir, hex.EncodeToString(h[:])+".dcm")
}

// Store implements StoreHandler.
func (d *DirStore) Store(ctx context.Context, in *Instance) error {
	_, err := d.Put(in)
	return err
}

// Put stores in and returns the path of the stored copy (an existing one
// for an identical duplicate).
func (d *DirStore) Put(in *Instance) (string, error) {
	if err := in.Materialize(); err != nil {
		return "", NewStatusError(StatusOutOfResources, "cannot write the received instance", err)
	}
	d.once.Do(func() { d.dirFile, d.openErr = os.Open(d.Dir) })
	if d.openErr != nil {
		return "", NewStatusError(StatusOutOfResources, "storage directory unavailable", d.openErr)
	}
	base := d.PathFor(in.SOPInstanceUID)
	stem := base[:len(base)-len(".dcm")]
	for i := 0; i < maxDuplicates; i++ {
		name := base
		if i > 0 {
			name = fmt.Sprintf("%s-%d.dcm", stem, i)
		}
		// Link fails if name exists: no concurrent store overwrites another.
		err := os.Link(in.Path, name)
		if err == nil {
			if err := d.dirFile.Sync(); err != nil {
				_ = os.Remove(name)
				return "", NewStatusError(StatusOutOfResources, "directory fsync failed", err)
			}
			if i > 0 && d.Log != nil {
				d.Log.Warn("duplicate SOP instance with different content kept",
					"sop_instance", d.UIDHash.Hash(in.SOPInstanceUID), "copy", i, "assoc", in.Assoc)
			}
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", NewStatusError(StatusOutOfResources, "cannot store instance", err)
		}
		same, err := sameDataSet(in.Path, in.DataOffset, name)
		if err != nil {
			return "", NewStatusError(StatusOutOfResources, "cannot compare duplicate", err)
		}
		if same {
			if d.Log != nil {
				d.Log.Info("duplicate SOP instance with identical content acknowledged",
					"sop_instance", d.UIDHash.Hash(in.SOPInstanceUID), "assoc", in.Assoc)
			}
			return name, nil
		}
	}
	return "", NewStatusError(StatusOutOfResources, "too many different copies of one SOP instance", nil)
}

// Part10DataOffset returns where the data set starts in a Part 10 file
// written by this package (or any file whose meta group starts with its
// group length element).
func Part10DataOffset(r io.ReaderAt) (int64, error) {
	var b [144]byte
	if _, err := r.ReadAt(b[:], 0); err != nil {
		return 0, err
	}
	if string(b[128:132]) != "DICM" || binary.LittleEndian.Uint32(b[132:]) != 0x00000002 || string(b[136:138]) != "UL" {
		return 0, errors.New("dimse: no file meta group length")
	}
	return 144 + int64(binary.LittleEndian.Uint32(b[140:])), nil
}

func sameDataSet(newPath string, newOff int64, oldPath string) (bool, error) {
	nf, err := os.Open(newPath)
	if err != nil {
		return false, err
	}
	defer nf.Close()
	of, err := os.Open(oldPath)
	if err != nil {
		return false, err
	}
	defer of.Close()
	oldOff, err := Part10DataOffset(of)
	if err != nil {
		return false, nil // not ours: treat as different
	}
	ns, err := nf.Stat()
	if err != nil {
		return false, err
	}
	os_, err := of.Stat()
	if err != nil {
		return false, err
	}
	if ns.Size()-newOff != os_.Size()-oldOff {
		return false, nil
	}
	// Equal data set bytes in two different transfer syntaxes do not occur
	// for a real instance, so the meta is not compared.
	return sameBytes(io.NewSectionReader(nf, newOff, ns.Size()-newOff), io.NewSectionReader(of, oldOff, os_.Size()-oldOff))
}

func sameBytes(a, b io.Reader) (bool, error) {
	ba, bb := bufio.NewReaderSize(a, 64<<10), bufio.NewReaderSize(b, 64<<10)
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(ba, bufA)
		nb, errB := io.ReadFull(bb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == io.EOF || errB == io.ErrUnexpectedEOF, nil
		}
		if errA != nil {
			return false, errA
		}
		if errB != nil {
			return false, errB
		}
	}
}

// freeBytes reports the space available to unprivileged users on the file
// system holding dir.
func freeBytes(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// fdatasync flushes a file's data and the metadata needed to read it back.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
