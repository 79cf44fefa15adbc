package dicom

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestElementPrintsNoValue(t *testing.T) {
	ds := NewDataset()
	ds.SetString(NewTag(0x0010, 0x0010), PN, "Secret^Patient")
	e := ds.Get(NewTag(0x0010, 0x0010))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "element", e)
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%v %+v %s", e, e, e), logs.String()} {
		if strings.Contains(s, "Secret") {
			t.Fatalf("value leaked: %s", s)
		}
	}
	if got := e.String(); got != "(0010,0010) PN 14 bytes" {
		t.Errorf("String() = %q", got)
	}
}

func TestSettersPadAndOrder(t *testing.T) {
	ds := NewDataset()
	ds.SetString(NewTag(0x0020, 0x000D), UI, "1.2.3")
	ds.SetString(NewTag(0x0008, 0x0060), CS, "MR")
	ds.SetString(NewTag(0x0010, 0x0010), PN, "Doe^J")
	ds.SetUint16(NewTag(0x0028, 0x0010), 512)
	ds.SetUint32(NewTag(0x0008, 0x0000), 7)
	tests := []struct {
		tag  Tag
		want []byte
	}{
		{NewTag(0x0020, 0x000D), []byte("1.2.3\x00")},
		{NewTag(0x0008, 0x0060), []byte("MR")},
		{NewTag(0x0010, 0x0010), []byte("Doe^J ")},
		{NewTag(0x0028, 0x0010), []byte{0x00, 0x02}},
		{NewTag(0x0008, 0x0000), []byte{7, 0, 0, 0}},
	}
	for _, tc := range tests {
		b, _ := ds.Get(tc.tag).Bytes()
		if !bytes.Equal(b, tc.want) {
			t.Errorf("%s = %q, want %q", tc.tag, b, tc.want)
		}
	}
	var prev Tag
	for _, e := range ds.Elements() {
		if e.Tag < prev {
			t.Fatalf("elements out of order: %s after %s", e.Tag, prev)
		}
		prev = e.Tag
	}
	if ds.String(NewTag(0x0020, 0x000D)) != "1.2.3" || ds.String(NewTag(0x0010, 0x0010)) != "Doe^J" {
		t.Error("padding not trimmed on read")
	}
	if v, ok := ds.Uint16(NewTag(0x0028, 0x0010)); !ok || v != 512 {
		t.Errorf("Uint16 = %d %v", v, ok)
	}
	if !ds.Delete(NewTag(0x0008, 0x0060)) || ds.Has(NewTag(0x0008, 0x0060)) || ds.Delete(NewTag(0x0008, 0x0060)) {
		t.Error("Delete")
	}
}

func TestNumericAccessors(t *testing.T) {
	tests := []struct {
		vr    VR
		bytes []byte
		ints  []int64
		flts  []float64
	}{
		{US, []byte{1, 0, 0xFF, 0xFF}, []int64{1, 65535}, nil},
		{SS, []byte{0xFF, 0xFF}, []int64{-1}, nil},
		{UL, []byte{1, 0, 0, 0}, []int64{1}, nil},
		{SL, []byte{0xFE, 0xFF, 0xFF, 0xFF}, []int64{-2}, nil},
		{SV, []byte{0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, []int64{-3}, nil},
		{AT, []byte{0x10, 0x00, 0x20, 0x00}, []int64{int64(NewTag(0x0010, 0x0020))}, nil},
		{IS, []byte(" 12\\-4 "), []int64{12, -4}, nil},
		{DS, []byte("1.5\\-2e3"), nil, []float64{1.5, -2000}},
		{FL, []byte{0, 0, 0xC0, 0x3F}, nil, []float64{1.5}},
		{FD, []byte{0, 0, 0, 0, 0, 0, 0xF8, 0x3F}, nil, []float64{1.5}},
	}
	for _, tc := range tests {
		e := &Element{Tag: 1, VR: tc.vr, data: tc.bytes}
		if tc.ints != nil {
			got, err := e.Ints()
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.ints) {
				t.Errorf("%s Ints = %v %v, want %v", tc.vr, got, err, tc.ints)
			}
		}
		if tc.flts != nil {
			got, err := e.Floats()
			if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.flts) {
				t.Errorf("%s Floats = %v %v, want %v", tc.vr, got, err, tc.flts)
			}
		}
	}
}
