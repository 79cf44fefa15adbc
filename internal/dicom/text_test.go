package dicom

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// pydicomTexts lists, in walk order, every standard (non-private) text
// element of the character-set-bearing VRs with pydicom's decoded value.
const pydicomTexts = `
import json, sys, pydicom
res = {}
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path, force=True)
    out = []
    for e in ds.iterall():
        if e.tag.is_private or e.VR not in ('PN', 'LO', 'SH', 'LT', 'ST', 'UT', 'UC'):
            continue
        v = e.value
        if isinstance(v, pydicom.multival.MultiValue):
            v = '\\'.join(str(x) for x in v)
        out.append(['%08X' % int(e.tag), e.VR, str(v) if v is not None else ''])
    res[path] = out
print(json.dumps(res))
`

// TestTextAgainstPydicom decodes every text element of every sample file
// (at every depth, with the character set inherited into items) and
// compares it with pydicom's decoding.
func TestTextAgainstPydicom(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import pydicom").Run(); err != nil {
		t.Skip("pydicom for /usr/bin/python3 not installed: run ./scripts/test")
	}
	checked := 0
	var paths []string
	for _, path := range testFiles(t) {
		name := testName(path)
		if name == "pydicom_MR_truncated.dcm" || name == "nibabel_philips_mprage.dcm" {
			continue // truncated; the large one is slow in pydicom and has no non-ASCII text
		}
		paths = append(paths, path)
	}
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", pydicomTexts}, paths...)...).Output()
	if err != nil {
		t.Fatalf("pydicom: %v", err)
	}
	var all map[string][][3]string
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		name := testName(path)
		want := all[path]
		f, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		f.Dataset.Walk(func(holder *Dataset, e *Element) bool {
			if e.Tag.IsPrivate() || !e.VR.UsesCharset() {
				return true
			}
			got, err := holder.Text(e.Tag)
			if err != nil {
				t.Errorf("%s %s: %v", name, e.Tag, err)
			}
			if i >= len(want) {
				t.Errorf("%s: pydicom has fewer text elements than we do", name)
				return false
			}
			w := want[i]
			i++
			// pydicom drops trailing empty PN groups ("Doe^John=" → "Doe^John").
			if e.VR == PN {
				got = strings.TrimRight(got, "=")
			}
			if w[0] != fmt.Sprintf("%08X", uint32(e.Tag)) {
				t.Errorf("%s: element %d is %s, pydicom's is %s", name, i, e.Tag, w[0])
			}
			if got != strings.TrimRight(w[2], " ") {
				t.Errorf("%s %s: decoded %q, pydicom %q", name, e.Tag, got, w[2])
			}
			checked++
			return true
		})
		if i != len(want) {
			t.Errorf("%s: we decoded %d text elements, pydicom %d", name, i, len(want))
		}
		f.Close()
	}
	t.Logf("%d text elements compared", checked)
}

func TestSetTextEncodesIntoDatasetCharset(t *testing.T) {
	tests := []struct {
		charset string
		value   string
		hex     string // expected bytes where checked here (Latin-1 by hand; the rest in charset's tests)
	}{
		{"ISO_IR 100", "Buc^Jérôme", "4275635e4ae972f46d65"},
		{`ISO 2022 IR 13\ISO 2022 IR 87`, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎", ""},
		{"ISO_IR 192", "Wang^XiaoDong=王^小東", ""},
	}
	for _, tc := range tests {
		ds := NewDataset()
		ds.SetString(TagSpecificCharacterSet, CS, strings.Split(tc.charset, `\`)...)
		item := NewDataset()
		ds.SetSequence(NewTag(0x0008, 0x1115), item)
		pn := NewTag(0x0010, 0x0010)
		for _, target := range []*Dataset{ds, item} {
			if err := target.SetText(pn, PN, tc.value); err != nil {
				t.Fatalf("%s: %v", tc.charset, err)
			}
			if tc.hex != "" {
				if b, _ := target.Get(pn).Bytes(); hex.EncodeToString(b) != tc.hex {
					t.Errorf("%s: bytes %x, want %s", tc.charset, b, tc.hex)
				}
			}
			got, err := target.Text(pn)
			if err != nil || got != tc.value {
				t.Errorf("%s: round trip gave %q, %v", tc.charset, got, err)
			}
		}
	}
	// A character the set cannot hold is an error, never a '?'.
	ds := NewDataset()
	ds.SetString(TagSpecificCharacterSet, CS, "ISO_IR 100")
	if err := ds.SetText(NewTag(0x0010, 0x0010), PN, "山田"); err == nil {
		t.Fatal("encoding CJK into Latin-1 succeeded")
	}
	if err := ds.SetText(NewTag(0x0008, 0x0060), CS, "É"); err == nil {
		t.Fatal("non-ASCII in CS accepted")
	}
}
