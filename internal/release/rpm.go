// Package release writes the release artefacts that Go's toolchain and
// dpkg-deb do not: the .rpm package (rpm.go: the lead, the signature and
// main headers and a gzip'd cpio payload, written directly), the SPDX
// software bill of materials of a built binary (sbom.go: its module graph
// from debug/buildinfo) and the multi-arch OCI image index (oci.go, on
// internal/fleet/image). Only cmd/aisedge-release, run by scripts/release,
// imports it.
package release

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// RPMFile is one regular file of a package.
type RPMFile struct {
	// Path is absolute, e.g. /usr/bin/aisedge.
	Path string
	Mode uint32 // permission bits, e.g. 0o755
	Data []byte
	// Doc marks documentation (%doc), Config a configuration file
	// (%config(noreplace)).
	Doc, Config bool
}

// RPMDep is a dependency (Requires).
type RPMDep struct {
	Name, Version string
	Flags         uint32 // RPMSENSE_* comparison and kind bits
}

// RPM describes a binary package.
type RPM struct {
	Name, Version, Release string
	// Arch is rpm's name of the architecture: x86_64, aarch64.
	Arch                 string
	Summary, Description string
	License, URL, Group  string
	// BuildTime stamps the package and every file (SOURCE_DATE_EPOCH).
	BuildTime time.Time
	Files     []RPMFile
	Requires  []RPMDep
	// Scriptlets run by /bin/sh: before and after install, before and
	// after removal ($1 is the count of instances left, as rpm passes).
	PreIn, PostIn, PreUn, PostUn string
}

// Dependency flags (rpmds.h).
const (
	SenseLess   = 0x02
	SenseEqual  = 0x08
	SensePre    = 0x40 // Requires(pre)
	SenseRPMLib = 0x1000000
)

// Header data types (rpmtag.h).
const (
	typeInt16       = 3
	typeInt32       = 4
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

// Tags used (rpmtag.h; signature tags from rpmsigtag).
const (
	tagHeaderSignatures = 62
	tagHeaderImmutable  = 63
	tagI18NTable        = 100

	sigSHA256      = 273
	sigSize        = 1000
	sigMD5         = 1004
	sigPayloadSize = 1007

	tagName              = 1000
	tagVersion           = 1001
	tagRelease           = 1002
	tagSummary           = 1004
	tagDescription       = 1005
	tagBuildTime         = 1006
	tagBuildHost         = 1007
	tagSize              = 1009
	tagLicense           = 1014
	tagGroup             = 1016
	tagURL               = 1020
	tagOS                = 1021
	tagArch              = 1022
	tagPreIn             = 1023
	tagPostIn            = 1024
	tagPreUn             = 1025
	tagPostUn            = 1026
	tagFileSizes         = 1028
	tagFileModes         = 1030
	tagFileRdevs         = 1033
	tagFileMtimes        = 1034
	tagFileDigests       = 1035
	tagFileLinkTos       = 1036
	tagFileFlags         = 1037
	tagFileUserName      = 1039
	tagFileGroupName     = 1040
	tagSourceRPM         = 1044
	tagProvideName       = 1047
	tagRequireFlags      = 1048
	tagRequireName       = 1049
	tagRequireVersion    = 1050
	tagPreInProg         = 1085
	tagPostInProg        = 1086
	tagPreUnProg         = 1087
	tagPostUnProg        = 1088
	tagFileDevices       = 1095
	tagFileInodes        = 1096
	tagFileLangs         = 1097
	tagProvideFlags      = 1112
	tagProvideVersion    = 1113
	tagDirIndexes        = 1116
	tagBaseNames         = 1117
	tagDirNames          = 1118
	tagPayloadFormat     = 1124
	tagPayloadCompressor = 1125
	tagPayloadFlags      = 1126
	tagFileDigestAlgo    = 5011
)

const (
	fileConfig    = 1 << 0
	fileDoc       = 1 << 1
	fileNoReplace = 1 << 4
	digestSHA256  = 8
)

type entry struct {
	tag, typ int32
	count    int32
	data     []byte
}

// header collects the entries of one header structure.
type header struct{ entries []entry }

func (h *header) add(tag, typ int32, count int, data []byte) {
	h.entries = append(h.entries, entry{int32(tag), typ, int32(count), data})
}

func (h *header) str(tag int32, s string) { h.add(tag, typeString, 1, append([]byte(s), 0)) }
func (h *header) i18n(tag int32, s string) {
	h.add(tag, typeI18NString, 1, append([]byte(s), 0))
}
func (h *header) strs(tag int32, ss []string) {
	var b []byte
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	h.add(tag, typeStringArray, len(ss), b)
}
func (h *header) int32s(tag int32, vs ...uint32) {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	h.add(tag, typeInt32, len(vs), b)
}
func (h *header) int16s(tag int32, vs ...uint16) {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	h.add(tag, typeInt16, len(vs), b)
}

// bytes lays the header out: magic, counts, the index sorted by tag with
// the region entry first, and the data store (each value aligned to its
// type's size) ending with the region trailer, an index entry whose
// negative offset covers every entry of the header.
func (h *header) bytes(region int32) []byte {
	sort.SliceStable(h.entries, func(i, j int) bool { return h.entries[i].tag < h.entries[j].tag })
	n := len(h.entries) + 1
	var data bytes.Buffer
	index := make([]byte, 0, 16*n)
	put := func(tag, typ, off, count int32) {
		index = binary.BigEndian.AppendUint32(index, uint32(tag))
		index = binary.BigEndian.AppendUint32(index, uint32(typ))
		index = binary.BigEndian.AppendUint32(index, uint32(off))
		index = binary.BigEndian.AppendUint32(index, uint32(count))
	}
	var rest []byte
	for _, e := range h.entries {
		align := map[int32]int{typeInt16: 2, typeInt32: 4}[e.typ]
		for align > 1 && data.Len()%align != 0 {
			data.WriteByte(0)
		}
		off := data.Len()
		data.Write(e.data)
		rest = binary.BigEndian.AppendUint32(rest, uint32(e.tag))
		rest = binary.BigEndian.AppendUint32(rest, uint32(e.typ))
		rest = binary.BigEndian.AppendUint32(rest, uint32(off))
		rest = binary.BigEndian.AppendUint32(rest, uint32(e.count))
	}
	trailer := data.Len()
	var tr [16]byte
	binary.BigEndian.PutUint32(tr[0:], uint32(region))
	binary.BigEndian.PutUint32(tr[4:], typeBin)
	binary.BigEndian.PutUint32(tr[8:], uint32(int32(-16*n)))
	binary.BigEndian.PutUint32(tr[12:], 16)
	data.Write(tr[:])
	put(region, typeBin, int32(trailer), 16)
	index = append(index, rest...)

	out := []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	out = binary.BigEndian.AppendUint32(out, uint32(data.Len()))
	return append(append(out, index...), data.Bytes()...)
}

// cpio writes the payload: a "newc" archive of the files under "./",
// ending with the trailer.
func cpio(files []RPMFile, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	rec := func(ino int, mode uint32, name string, data []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, uint32(mtime.Unix()), len(data), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad()
		b.Write(data)
		pad()
	}
	for i, f := range files {
		rec(i+1, 0o100000|f.Mode, "."+f.Path, f.Data)
	}
	rec(0, 0, "TRAILER!!!", nil)
	return b.Bytes(), nil
}

// Write writes the package.
func (p *RPM) Write(w io.Writer) error {
	if p.Name == "" || p.Version == "" || p.Release == "" || p.Arch == "" || len(p.Files) == 0 {
		return errors.New("rpm: name, version, release, arch and files are required")
	}
	if strings.ContainsAny(p.Version+p.Release, "- ") {
		return fmt.Errorf("rpm: version %q and release %q may not contain '-' or spaces", p.Version, p.Release)
	}
	files := append([]RPMFile(nil), p.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	payload, err := cpio(files, p.BuildTime)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	zw.Write(payload)
	if err := zw.Close(); err != nil {
		return err
	}

	h := &header{}
	h.strs(tagI18NTable, []string{"C"})
	h.str(tagName, p.Name)
	h.str(tagVersion, p.Version)
	h.str(tagRelease, p.Release)
	h.i18n(tagSummary, p.Summary)
	h.i18n(tagDescription, p.Description)
	h.int32s(tagBuildTime, uint32(p.BuildTime.Unix()))
	h.str(tagBuildHost, "localhost")
	h.str(tagLicense, p.License)
	h.i18n(tagGroup, p.Group)
	h.str(tagURL, p.URL)
	h.str(tagOS, "linux")
	h.str(tagArch, p.Arch)
	h.str(tagSourceRPM, fmt.Sprintf("%s-%s-%s.src.rpm", p.Name, p.Version, p.Release))
	h.str(tagPayloadFormat, "cpio")
	h.str(tagPayloadCompressor, "gzip")
	h.str(tagPayloadFlags, "6")
	for _, s := range []struct {
		tag, prog int32
		body      string
	}{{tagPreIn, tagPreInProg, p.PreIn}, {tagPostIn, tagPostInProg, p.PostIn}, {tagPreUn, tagPreUnProg, p.PreUn}, {tagPostUn, tagPostUnProg, p.PostUn}} {
		if s.body != "" {
			h.str(s.tag, s.body)
			h.str(s.prog, "/bin/sh")
		}
	}

	// Files: compressed names (directory index + base name), one value
	// per file in each array.
	var size uint32
	var dirs []string
	dirIdx := map[string]uint32{}
	var sizes, mtimes, flags, devices, inodes, dirIndexes []uint32
	var modes, rdevs []uint16
	var digests, links, users, groups, langs, bases []string
	for i, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("rpm: file path %q is not absolute and clean", f.Path)
		}
		dir, base := path.Split(f.Path)
		if _, ok := dirIdx[dir]; !ok {
			dirIdx[dir] = uint32(len(dirs))
			dirs = append(dirs, dir)
		}
		sum := sha256.Sum256(f.Data)
		var fl uint32
		if f.Doc {
			fl |= fileDoc
		}
		if f.Config {
			fl |= fileConfig | fileNoReplace
		}
		size += uint32(len(f.Data))
		sizes = append(sizes, uint32(len(f.Data)))
		mtimes = append(mtimes, uint32(p.BuildTime.Unix()))
		flags = append(flags, fl)
		devices = append(devices, 1)
		inodes = append(inodes, uint32(i+1))
		dirIndexes = append(dirIndexes, dirIdx[dir])
		modes = append(modes, uint16(0o100000|f.Mode))
		rdevs = append(rdevs, 0)
		digests = append(digests, hex.EncodeToString(sum[:]))
		links = append(links, "")
		users = append(users, "root")
		groups = append(groups, "root")
		langs = append(langs, "")
		bases = append(bases, base)
	}
	h.int32s(tagSize, size)
	h.int32s(tagFileSizes, sizes...)
	h.int16s(tagFileModes, modes...)
	h.int16s(tagFileRdevs, rdevs...)
	h.int32s(tagFileMtimes, mtimes...)
	h.strs(tagFileDigests, digests)
	h.strs(tagFileLinkTos, links)
	h.int32s(tagFileFlags, flags...)
	h.strs(tagFileUserName, users)
	h.strs(tagFileGroupName, groups)
	h.int32s(tagFileDevices, devices...)
	h.int32s(tagFileInodes, inodes...)
	h.strs(tagFileLangs, langs)
	h.int32s(tagDirIndexes, dirIndexes...)
	h.strs(tagBaseNames, bases)
	h.strs(tagDirNames, dirs)
	h.int32s(tagFileDigestAlgo, digestSHA256)

	evr := p.Version + "-" + p.Release
	h.strs(tagProvideName, []string{p.Name, p.Name + "(" + p.Arch + ")"})
	h.int32s(tagProvideFlags, SenseEqual, SenseEqual)
	h.strs(tagProvideVersion, []string{evr, evr})
	reqs := append([]RPMDep{
		{"rpmlib(CompressedFileNames)", "3.0.4-1", SenseLess | SenseEqual | SenseRPMLib},
		{"rpmlib(FileDigests)", "4.6.0-1", SenseLess | SenseEqual | SenseRPMLib},
		{"rpmlib(PayloadFilesHavePrefix)", "4.0-1", SenseLess | SenseEqual | SenseRPMLib},
	}, p.Requires...)
	var rn, rv []string
	var rf []uint32
	for _, r := range reqs {
		rn, rv, rf = append(rn, r.Name), append(rv, r.Version), append(rf, r.Flags)
	}
	h.strs(tagRequireName, rn)
	h.int32s(tagRequireFlags, rf...)
	h.strs(tagRequireVersion, rv)
	main := h.bytes(tagHeaderImmutable)

	// The signature header: digests of the main header and of header
	// and payload, and their sizes; padded to 8 bytes.
	sig := &header{}
	hsum := sha256.Sum256(main)
	sig.str(sigSHA256, hex.EncodeToString(hsum[:]))
	sig.int32s(sigSize, uint32(len(main)+gz.Len()))
	m := md5.New()
	m.Write(main)
	m.Write(gz.Bytes())
	sig.add(sigMD5, typeBin, 16, m.Sum(nil))
	sig.int32s(sigPayloadSize, uint32(len(payload)))
	sigb := sig.bytes(tagHeaderSignatures)
	for len(sigb)%8 != 0 {
		sigb = append(sigb, 0)
	}

	// The lead: magic, format 3.0, binary, the package's name, Linux,
	// header-style signature.
	lead := make([]byte, 96)
	copy(lead, []byte{0xed, 0xab, 0xee, 0xdb, 3, 0})
	binary.BigEndian.PutUint16(lead[6:], 0)
	binary.BigEndian.PutUint16(lead[8:], map[string]uint16{"x86_64": 1, "aarch64": 19}[p.Arch])
	copy(lead[10:75], p.Name+"-"+evr)
	binary.BigEndian.PutUint16(lead[76:], 1)
	binary.BigEndian.PutUint16(lead[78:], 5)

	for _, b := range [][]byte{lead, sigb, main, gz.Bytes()} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}
