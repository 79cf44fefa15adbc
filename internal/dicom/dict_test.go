package dicom

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestLookupTag(t *testing.T) {
	tests := []struct {
		name    string
		tag     Tag
		found   bool
		keyword string
		vrs     []VR
		vm      string
		retired bool
	}{
		{"PatientName", 0x00100010, true, "PatientName", []VR{PN}, "1", false},
		{"PixelData", TagPixelData, true, "PixelData", []VR{OB, OW}, "1", false},
		{"OverlayData6000", 0x60003000, true, "OverlayData", []VR{OB, OW}, "1", false},
		{"OverlayData6002", 0x60023000, true, "OverlayData", []VR{OB, OW}, "1", false},
		{"OverlayRows601E", 0x601E0010, true, "OverlayRows", []VR{US}, "1", false},
		{"LUTData", 0x00283006, true, "LUTData", []VR{US, OW}, "1-n", false},
		{"GrayLookupTableData", 0x00281200, true, "GrayLookupTableData", []VR{US, SS, OW}, "1-n", true},
		{"SmallestImagePixelValue", 0x00280106, true, "SmallestImagePixelValue", []VR{US, SS}, "1", false},
		{"Item", TagItem, true, "Item", nil, "1", false},
		{"SequenceDelimitationItem", TagSequenceDelimitationItem, true, "SequenceDelimitationItem", nil, "1", false},
		{"CommandField", 0x00000100, true, "CommandField", []VR{US}, "1", false},
		{"CommandLengthToEnd", 0x00000001, true, "CommandLengthToEnd", []VR{UL}, "1", true},
		{"TransferSyntaxUID", TagTransferSyntaxUID, true, "TransferSyntaxUID", []VR{UI}, "1", false},
		{"FileMetaInformationVersion", TagFileMetaInformationVersion, true, "FileMetaInformationVersion", []VR{OB}, "1", false},
		{"SourceImageIDs (element repeater)", 0x002031A7, true, "SourceImageIDs", []VR{CS}, "1-n", true},
		{"RowsForNthOrderCoefficients", 0x00280430, true, "RowsForNthOrderCoefficients", []VR{US}, "1", true},
		{"ZonalMap", 0x10101234, true, "ZonalMap", []VR{US}, "1-n", true},
		{"EscapeTriplet", 0x10000120, true, "EscapeTriplet", []VR{US}, "3", true},
		{"ReferencedSOPSequence", 0x00081199, true, "ReferencedSOPSequence", []VR{SQ}, "1", false},
		{"GroupLength", 0x00100000, true, "GenericGroupLength", []VR{UL}, "1", false},
		{"PrivateData", 0x00091010, false, "", nil, "", false},
		{"PrivateCreator", 0x00290010, true, "PrivateCreator", []VR{LO}, "1", false},
		{"Unknown", 0x00100009, false, "", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := LookupTag(tt.tag)
			if ok != tt.found {
				t.Fatalf("LookupTag(%v) found = %v, want %v (%+v)", tt.tag, ok, tt.found, e)
			}
			if !ok {
				return
			}
			if e.Keyword != tt.keyword || !slices.Equal(e.VRs, tt.vrs) || e.VM != tt.vm || e.Retired != tt.retired {
				t.Errorf("LookupTag(%v) = %s %v VM %s retired %v, want %s %v VM %s retired %v",
					tt.tag, e.Keyword, e.VRs, e.VM, e.Retired, tt.keyword, tt.vrs, tt.vm, tt.retired)
			}
			wantVR := UN
			if len(tt.vrs) > 0 {
				wantVR = tt.vrs[0]
			}
			if e.VR() != wantVR {
				t.Errorf("LookupTag(%v).VR() = %v, want %v", tt.tag, e.VR(), wantVR)
			}
		})
	}
}

func TestLookupKeyword(t *testing.T) {
	tests := []struct {
		keyword string
		tag     Tag
		vr      VR
	}{
		{"StudyInstanceUID", TagStudyInstanceUID, UI},
		{"PatientName", 0x00100010, PN},
		{"SOPClassUID", TagSOPClassUID, UI},
		{"AffectedSOPClassUID", 0x00000002, UI},
		{"PixelData", TagPixelData, OB},
	}
	for _, tt := range tests {
		e, ok := LookupKeyword(tt.keyword)
		if !ok || e.Tag != tt.tag || e.VR() != tt.vr || e.Keyword != tt.keyword {
			t.Errorf("LookupKeyword(%q) = %v %v %v, want %v %v", tt.keyword, e.Tag, e.VR(), ok, tt.tag, tt.vr)
		}
	}
	if e, ok := LookupKeyword("NoSuchKeyword"); ok {
		t.Errorf("LookupKeyword(NoSuchKeyword) = %+v, want not found", e)
	}
	if got := MustTag("StudyInstanceUID"); got != TagStudyInstanceUID {
		t.Errorf("MustTag(StudyInstanceUID) = %v", got)
	}
}

// TestDictCodecTags checks that the tag constants of tag.go agree with the
// dictionary.
func TestDictCodecTags(t *testing.T) {
	for kw, tag := range map[string]Tag{
		"FileMetaInformationGroupLength": TagFileMetaInformationGroupLength,
		"FileMetaInformationVersion":     TagFileMetaInformationVersion,
		"MediaStorageSOPClassUID":        TagMediaStorageSOPClassUID,
		"MediaStorageSOPInstanceUID":     TagMediaStorageSOPInstanceUID,
		"TransferSyntaxUID":              TagTransferSyntaxUID,
		"ImplementationClassUID":         TagImplementationClassUID,
		"ImplementationVersionName":      TagImplementationVersionName,
		"SourceApplicationEntityTitle":   TagSourceApplicationEntityTitle,
		"SpecificCharacterSet":           TagSpecificCharacterSet,
		"SOPClassUID":                    TagSOPClassUID,
		"SOPInstanceUID":                 TagSOPInstanceUID,
		"StudyInstanceUID":               TagStudyInstanceUID,
		"SeriesInstanceUID":              TagSeriesInstanceUID,
		"BitsAllocated":                  TagBitsAllocated,
		"PixelRepresentation":            TagPixelRepresentation,
		"PixelData":                      TagPixelData,
		"FloatPixelData":                 TagFloatPixelData,
		"DoubleFloatPixelData":           TagDoubleFloatPixelData,
		"Item":                           TagItem,
		"ItemDelimitationItem":           TagItemDelimitationItem,
		"SequenceDelimitationItem":       TagSequenceDelimitationItem,
	} {
		if e, ok := LookupKeyword(kw); !ok || e.Tag != tag {
			t.Errorf("LookupKeyword(%s) = %v, %v; tag.go says %v", kw, e.Tag, ok, tag)
		}
	}
}

// TestDictInvariants checks what the lookup functions rely on.
func TestDictInvariants(t *testing.T) {
	if len(dictionary) < 4000 || len(repeatingDictionary) < 50 {
		t.Fatalf("dictionary has %d entries and %d repeaters; generated data missing?", len(dictionary), len(repeatingDictionary))
	}
	keywords := map[string]Tag{}
	for i, e := range dictionary {
		if i > 0 && dictionary[i-1].Tag >= e.Tag {
			t.Errorf("dictionary not strictly sorted at %d: %v after %v", i, e.Tag, dictionary[i-1].Tag)
		}
		if e.Mask != 0 {
			t.Errorf("%v: plain entry has mask %08X", e.Tag, e.Mask)
		}
		if e.Tag.IsPrivate() {
			t.Errorf("%v: private tag in dictionary", e.Tag)
		}
		for _, vr := range e.VRs {
			if !vr.Known() {
				t.Errorf("%v: unknown VR %v", e.Tag, vr)
			}
		}
		if len(e.VRs) == 0 && e.Tag.Group() != 0xFFFE {
			t.Errorf("%v %s: no VR", e.Tag, e.Keyword)
		}
		if e.VM == "" {
			t.Errorf("%v: empty VM", e.Tag)
		}
		if e.Keyword != "" {
			if prev, dup := keywords[e.Keyword]; dup {
				t.Errorf("keyword %s on %v and %v", e.Keyword, prev, e.Tag)
			}
			keywords[e.Keyword] = e.Tag
		}
		if got, ok := LookupTag(e.Tag); !ok || got.Tag != e.Tag || got.Keyword != e.Keyword {
			t.Errorf("LookupTag(%v) = %v %s, %v", e.Tag, got.Tag, got.Keyword, ok)
		}
	}
	for _, e := range repeatingDictionary {
		if e.Mask == 0 || e.Mask == 0xFFFFFFFF || uint32(e.Tag)&^e.Mask != 0 {
			t.Errorf("repeater %v: bad mask %08X", e.Tag, e.Mask)
		}
		if len(e.VRs) == 0 || !e.VRs[0].Known() {
			t.Errorf("repeater %v: VRs %v", e.Tag, e.VRs)
		}
		// Fill the repeating nibbles with 2 (keeping groups even) and check
		// that a tag not in the plain dictionary reaches the repeater. The
		// representative tag itself may be a plain entry: (0028,0400) is
		// Transform Label, not (0028,04x0) Rows For Nth Order Coefficients.
		tag := Tag(uint32(e.Tag) | 0x22222222&^e.Mask)
		if _, plain := slices.BinarySearchFunc(dictionary, tag, cmpEntryTag); plain {
			t.Errorf("repeater %s: %v is a plain entry", e.Keyword, tag)
			continue
		}
		if got, ok := LookupTag(tag); !ok || got.Keyword != e.Keyword {
			t.Errorf("LookupTag(%v) = %s, %v; want repeater %s", tag, got.Keyword, ok, e.Keyword)
		}
	}
	for _, g := range []uint16{0x0000, 0x0002} {
		n := 0
		for _, e := range dictionary {
			if e.Tag.Group() == g {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no group %04X entries", g)
		}
	}
}

func TestLookupUID(t *testing.T) {
	tests := []struct {
		uid     string
		found   bool
		name    string
		keyword string
		typ     string
		retired bool
	}{
		{"1.2.840.10008.1.2.4.50", true, "JPEG Baseline (Process 1)", "JPEGBaseline8Bit", "Transfer Syntax", false},
		{"1.2.840.10008.1.2.4.50\x00", true, "JPEG Baseline (Process 1)", "JPEGBaseline8Bit", "Transfer Syntax", false},
		{"1.2.840.10008.5.1.4.1.1.2", true, "CT Image Storage", "CTImageStorage", "SOP Class", false},
		{"1.2.840.10008.1.2", true, "Implicit VR Little Endian", "ImplicitVRLittleEndian", "Transfer Syntax", false},
		{"1.2.840.10008.1.2.2", true, "Explicit VR Big Endian", "ExplicitVRBigEndian", "Transfer Syntax", true},
		{"1.2.840.10008.1.1", true, "Verification SOP Class", "Verification", "SOP Class", false},
		{"1.2.840.10008.1.20.1.1", true, "Storage Commitment Push Model SOP Instance", "StorageCommitmentPushModelInstance", "Well-known SOP Instance", false},
		{"1.2.840.10008.3.1.1.1", true, "DICOM Application Context Name", "DICOMApplicationContext", "Application Context Name", false},
		{"1.2.840.10008.5.1.4.1.1.5", true, "Nuclear Medicine Image Storage", "NuclearMedicineImageStorageRetired", "SOP Class", true},
		{"1.2.3.4", false, "", "", "", false},
		{"", false, "", "", "", false},
	}
	for _, tt := range tests {
		e, ok := LookupUID(tt.uid)
		if ok != tt.found {
			t.Errorf("LookupUID(%q) found = %v, want %v", tt.uid, ok, tt.found)
			continue
		}
		if ok && (e.Name != tt.name || e.Keyword != tt.keyword || e.Type != tt.typ || e.Retired != tt.retired) {
			t.Errorf("LookupUID(%q) = %+v, want %q %q %q retired %v", tt.uid, e, tt.name, tt.keyword, tt.typ, tt.retired)
		}
	}
}

func TestUIDRegistryInvariants(t *testing.T) {
	if len(uidRegistry) < 400 {
		t.Fatalf("uidRegistry has %d entries; generated data missing?", len(uidRegistry))
	}
	uidRE := regexp.MustCompile(`^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$`)
	seen := map[string]bool{}
	for _, e := range uidRegistry {
		if !uidRE.MatchString(e.UID) || len(e.UID) > 64 {
			t.Errorf("bad UID %q", e.UID)
		}
		if seen[e.UID] {
			t.Errorf("duplicate UID %q", e.UID)
		}
		seen[e.UID] = true
		// PS3.6 leaves the names of a few retired UIDs blank.
		if e.Type == "" || e.Name == "" && !e.Retired {
			t.Errorf("UID %s: empty name or type: %+v", e.UID, e)
		}
	}
}

func TestIsStorageSOPClassUID(t *testing.T) {
	tests := []struct {
		uid  string
		want bool
	}{
		{"1.2.840.10008.5.1.4.1.1.2", true},     // CT Image Storage
		{"1.2.840.10008.5.1.4.1.1.4", true},     // MR Image Storage
		{"1.2.840.10008.5.1.4.1.1.5", true},     // Nuclear Medicine Image Storage (retired)
		{"1.2.840.10008.5.1.4.1.1.3", true},     // Ultrasound Multi-frame Image Storage (retired)
		{"1.2.840.10008.1.1", false},            // Verification
		{"1.2.840.10008.1.3.10", false},         // Media Storage Directory Storage (DICOMDIR)
		{"1.3.12.2.1107.5.9.1", false},          // Siemens CSA non-image: private, not registered
		{"1.2.840.10008.1.20.1", false},         // Storage Commitment Push Model
		{"1.2.840.10008.1.20.2", false},         // Storage Commitment Pull Model (retired)
		{"1.2.840.10008.4.2", false},            // Storage Service Class
		{"1.2.840.10008.1.2.4.50", false},       // a transfer syntax
		{"1.2.840.10008.5.1.4.1.2.2.1", false},  // Study Root Q/R FIND
		{"1.2.840.10008.5.1.4.1.1.2.99", false}, // unregistered
	}
	for _, tt := range tests {
		if got := IsStorageSOPClass(tt.uid); got != tt.want {
			t.Errorf("IsStorageSOPClass(%s) = %v, want %v", tt.uid, got, tt.want)
		}
	}
}

func cmpEntryTag(e DictEntry, t Tag) int {
	switch {
	case e.Tag < t:
		return -1
	case e.Tag > t:
		return 1
	}
	return 0
}

const dcmtkDict = "/usr/share/libdcmtk17/dicom.dic"

// dcmtkVRs maps dcmtk's pseudo VRs to the VR lists PS3.6 gives for the
// same attributes.
var dcmtkVRs = map[string][]VR{
	"ox": {OB, OW},     // OB or OW
	"px": {OB, OW},     // pixel data: OB or OW
	"xs": {US, SS},     // US or SS
	"lt": {US, SS, OW}, // LUT data: US or SS or OW (PS3.6 lists a subset per attribute)
	"up": {UL},         // unsigned pointer (DICOMDIR offsets), UL on the wire
	"na": nil,          // item and delimitation tags: no VR
}

// dcmtkMatch reports whether our VRs agree with a dcmtk VR column: the
// first (default) VR must be the same, and for pseudo VRs every one of ours
// must be among those the pseudo VR stands for.
func dcmtkMatch(ours []VR, col string) (ok, known bool) {
	if want, pseudo := dcmtkVRs[col]; pseudo {
		if len(want) == 0 {
			return len(ours) == 0, true
		}
		if len(ours) == 0 || ours[0] != want[0] {
			return false, true
		}
		for _, v := range ours {
			if !slices.Contains(want, v) {
				return false, true
			}
		}
		return true, true
	}
	vr, known := ParseVR(col)
	if !known {
		return false, false
	}
	return len(ours) > 0 && ours[0] == vr, true
}

// TestDictCrossCheckDCMTK compares the first VR of every plain, public tag
// in dcmtk's dictionary with ours, and spot-checks the repeating ranges.
func TestDictCrossCheckDCMTK(t *testing.T) {
	f, err := os.Open(dcmtkDict)
	if err != nil {
		t.Skipf("dcmtk dictionary not available: %v", err)
	}
	defer f.Close()
	plainRE := regexp.MustCompile(`^\(([0-9A-F]{4}),([0-9A-F]{4})\)$`)
	groupRangeRE := regexp.MustCompile(`^\(([0-9A-F]{4})-([0-9A-F]{4}),([0-9A-F]{4})\)$`)
	elemRangeRE := regexp.MustCompile(`^\(([0-9A-F]{4}),([0-9A-F]{4})-([0-9A-F]{4})\)$`)

	var compared, missing, ranges int
	var missingTags []string
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cols := strings.Split(text, "\t")
		if len(cols) < 4 {
			t.Errorf("%s:%d: %d columns", dcmtkDict, line, len(cols))
			continue
		}
		tagCol, vrCol, name := cols[0], cols[1], cols[2]
		var tag Tag
		plain := false
		switch {
		case plainRE.MatchString(tagCol):
			tag, err = ParseTag(tagCol)
			plain = true
		case groupRangeRE.MatchString(tagCol):
			m := groupRangeRE.FindStringSubmatch(tagCol)
			tag, err = ParseTag(m[1] + m[3])
		case elemRangeRE.MatchString(tagCol):
			m := elemRangeRE.FindStringSubmatch(tagCol)
			tag, err = ParseTag(m[1] + m[2])
		default:
			continue // private ranges, private creators by name, generic entries
		}
		if err != nil {
			t.Errorf("%s:%d: %v", dcmtkDict, line, err)
			continue
		}
		if tag.IsPrivate() {
			continue
		}
		var ours DictEntry
		found := false
		if plain {
			if i, ok := slices.BinarySearchFunc(dictionary, tag, cmpEntryTag); ok {
				ours, found = dictionary[i], true
			}
		} else {
			ranges++
		}
		if !found {
			// dcmtk spells some of PS3.6's repeaters out as plain tags,
			// e.g. (0028,0410) for (0028,04x0).
			for _, e := range repeatingDictionary {
				if uint32(tag)&e.Mask == uint32(e.Tag)&e.Mask {
					ours, found = e, true
					break
				}
			}
		}
		if !found {
			missing++
			missingTags = append(missingTags, tagCol+" "+name)
			continue
		}
		ok, known := dcmtkMatch(ours.VRs, vrCol)
		if !known {
			t.Logf("%v %s: dcmtk VR %q not understood; skipped", tag, name, vrCol)
			continue
		}
		compared++
		if !ok {
			t.Errorf("%v %s: dcmtk VR %s, ours %v (%s)", tag, name, vrCol, ours.VRs, ours.Keyword)
		}
		if kw := strings.TrimPrefix(name, "RETIRED_"); kw != ours.Keyword && ours.Keyword != "" {
			t.Logf("%v: keyword dcmtk %s, ours %s", tag, kw, ours.Keyword)
		}
		if retired := len(cols) > 4 && strings.HasSuffix(cols[4], "/retired"); retired != ours.Retired {
			t.Logf("%v %s: retired in dcmtk %v, ours %v", tag, ours.Keyword, retired, ours.Retired)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("compared %d dcmtk entries (%d repeating); %d public dcmtk entries not in our dictionary", compared, ranges, missing)
	for _, m := range missingTags {
		t.Logf("not in our dictionary: %s", m)
	}
	if compared < 4000 {
		t.Errorf("only %d entries compared; parsing %s went wrong?", compared, dcmtkDict)
	}
}

// TestDictGeneratedUpToDate regenerates dict_gen.go and uid_gen.go from the
// installed pydicom sources, when present, and compares them with the
// committed files.
func TestDictGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	for _, p := range []string{
		"/usr/lib/python3/dist-packages/pydicom/_dicom_dict.py",
		"/usr/lib/python3/dist-packages/pydicom/_uid_dict.py",
	} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("generator source not available: %v", err)
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not found: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goTool, "run", "./internal/gendict", "-outdir", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./internal/gendict: %v\n%s", err, out)
	}
	for _, name := range []string{"dict_gen.go", "uid_gen.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale or was generated from different sources; run go generate ./internal/dicom", name)
		}
	}
}
