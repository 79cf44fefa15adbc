package dicom

import (
	"sort"
	"strings"
	"sync"
)

// DictEntry describes one attribute of the data dictionary (PS3.6 / PS3.7).
type DictEntry struct {
	Tag Tag
	// Mask is non-zero for repeating-group entries such as (60xx,3000):
	// a tag t matches when t&Mask == Tag&Mask.
	Mask uint32
	// VRs lists the allowed VRs in the order PS3.6 gives them; the first is
	// the one used when nothing else decides ("US or SS" → US, SS).
	VRs     []VR
	VM      string
	Keyword string
	Name    string
	Retired bool
}

// VR returns the entry's first (default) VR.
func (e DictEntry) VR() VR {
	if len(e.VRs) == 0 {
		return UN
	}
	return e.VRs[0]
}

// LookupTag finds the dictionary entry for a tag. Private data elements and
// unknown tags report false; private creator elements (gggg,0010-00FF)
// report a synthetic LO entry. Group length elements report UL.
func LookupTag(t Tag) (DictEntry, bool) {
	if t.IsPrivate() {
		if t.IsPrivateCreator() {
			return DictEntry{Tag: t, VRs: []VR{LO}, VM: "1", Keyword: "PrivateCreator", Name: "Private Creator"}, true
		}
		if t.IsGroupLength() {
			return DictEntry{Tag: t, VRs: []VR{UL}, VM: "1", Keyword: "PrivateGroupLength", Name: "Private Group Length"}, true
		}
		return DictEntry{}, false
	}
	i := sort.Search(len(dictionary), func(i int) bool { return dictionary[i].Tag >= t })
	if i < len(dictionary) && dictionary[i].Tag == t {
		return dictionary[i], true
	}
	for _, e := range repeatingDictionary {
		if uint32(t)&e.Mask == uint32(e.Tag)&e.Mask {
			return e, true
		}
	}
	if t.IsGroupLength() {
		return DictEntry{Tag: t, VRs: []VR{UL}, VM: "1", Keyword: "GenericGroupLength", Name: "Generic Group Length"}, true
	}
	return DictEntry{}, false
}

var keywordIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(dictionary))
	for i, e := range dictionary {
		if e.Keyword != "" {
			m[e.Keyword] = i
		}
	}
	return m
})

// LookupKeyword finds a (non-repeating) dictionary entry by its PS3.6
// keyword, e.g. "PatientName".
func LookupKeyword(kw string) (DictEntry, bool) {
	i, ok := keywordIndex()[kw]
	if !ok {
		return DictEntry{}, false
	}
	return dictionary[i], true
}

// MustTag returns the tag of a dictionary keyword and panics if there is
// none; for package-level variables and tests.
func MustTag(kw string) Tag {
	e, ok := LookupKeyword(kw)
	if !ok {
		panic("dicom: unknown keyword " + kw)
	}
	return e.Tag
}

// UIDEntry describes one registered UID (PS3.6 Annex A).
type UIDEntry struct {
	UID     string
	Name    string
	Keyword string
	// Type is the registry's type column, e.g. "SOP Class",
	// "Transfer Syntax", "Well-known SOP Instance".
	Type    string
	Retired bool
}

var uidIndex = sync.OnceValue(func() map[string]int {
	m := make(map[string]int, len(uidRegistry))
	for i, e := range uidRegistry {
		m[e.UID] = i
	}
	return m
})

// LookupUID finds a registered UID.
func LookupUID(uid string) (UIDEntry, bool) {
	i, ok := uidIndex()[strings.TrimRight(uid, "\x00 ")]
	if !ok {
		return UIDEntry{}, false
	}
	return uidRegistry[i], true
}

// IsStorageSOPClass reports whether uid is a registered Storage SOP class
// (including retired ones): the classes a C-STORE SCP should accept. The
// DICOMDIR class (Media Storage Directory Storage) is a file-set object,
// never sent over the network, so it does not count.
func IsStorageSOPClass(uid string) bool {
	e, ok := LookupUID(uid)
	return ok && e.Type == "SOP Class" && strings.Contains(e.Name, "Storage") &&
		!strings.Contains(e.Name, "Commitment") && !strings.Contains(e.Name, "Storage Management") &&
		e.UID != "1.2.840.10008.1.3.10"
}

// EachEntry calls fn with every entry of the data dictionary, repeating
// groups included, in dictionary order.
func EachEntry(fn func(DictEntry)) {
	for _, e := range dictionary {
		fn(e)
	}
	for _, e := range repeatingDictionary {
		fn(e)
	}
}

// EachUID calls fn with every entry of the UID registry.
func EachUID(fn func(UIDEntry)) {
	for _, e := range uidRegistry {
		fn(e)
	}
}
