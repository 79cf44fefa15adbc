package deid

import (
	"path/filepath"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"
)

// TestSegmentationReferencesResolve de-identifies an MR image and a
// segmentation of it: the segmentation's references (the referenced
// series and instance, the source image of its frames, the frame of
// reference) point at the de-identified MR, not at originals and not
// nowhere.
func TestSegmentationReferencesResolve(t *testing.T) {
	e := testEngine(t, MustBuiltin("research-default"))
	st := newSynthStudy(21)
	mr, _ := synthMR(t, variants[0], st, 1)
	seg, _ := synthMR(t, variants[0], st, 2)
	mrSOP := mr.Dataset.String(dicom.TagSOPInstanceUID)
	mrSeries := mr.Dataset.String(dicom.MustTag("SeriesInstanceUID"))
	ds := seg.Dataset
	ds.SetString(dicom.TagSOPClassUID, dicom.UI, "1.2.840.10008.5.1.4.1.1.66.4") // Segmentation Storage
	seg.Meta.SetString(dicom.TagMediaStorageSOPClassUID, dicom.UI, "1.2.840.10008.5.1.4.1.1.66.4")
	ds.SetString(dicom.MustTag("Modality"), dicom.CS, "SEG")
	ds.SetString(dicom.MustTag("SeriesInstanceUID"), dicom.UI, "1.2.826.0.1.3680043.9.7777.21.99")
	ds.SetString(dicom.MustTag("ImageType"), dicom.CS, "DERIVED", "PRIMARY")
	ref := func(sop string) *dicom.Dataset {
		it := dicom.NewDataset()
		it.SetString(dicom.MustTag("ReferencedSOPClassUID"), dicom.UI, mrImageStorage)
		it.SetString(dicom.MustTag("ReferencedSOPInstanceUID"), dicom.UI, sop)
		return it
	}
	series := dicom.NewDataset()
	series.SetString(dicom.MustTag("SeriesInstanceUID"), dicom.UI, mrSeries)
	series.SetSequence(dicom.MustTag("ReferencedInstanceSequence"), ref(mrSOP))
	ds.SetSequence(dicom.MustTag("ReferencedSeriesSequence"), series)
	deriv := dicom.NewDataset()
	deriv.SetSequence(dicom.MustTag("SourceImageSequence"), ref(mrSOP))
	fg := dicom.NewDataset()
	fg.SetSequence(dicom.MustTag("DerivationImageSequence"), deriv)
	ds.SetSequence(dicom.MustTag("SharedFunctionalGroupsSequence"), fg)
	ds.SetSequence(dicom.MustTag("ReferencedImageSequence"), ref(mrSOP))

	dir := t.TempDir()
	in := []string{filepath.Join(dir, "mr.dcm"), filepath.Join(dir, "seg.dcm")}
	writeSynth(t, mr, in[0])
	writeSynth(t, seg, in[1])
	_, outs := processAll(t, e, in)
	for i, o := range outs {
		if o.Quarantined() {
			t.Fatalf("%s quarantined: %v", in[i], o.Reasons)
		}
	}
	open := func(p string) *dicom.Dataset {
		f, err := dicom.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f.Dataset
	}
	outMR, outSeg := open(outs[0].OutputPath), open(outs[1].OutputPath)
	newSOP := outMR.String(dicom.TagSOPInstanceUID)
	newSeries := outMR.String(dicom.MustTag("SeriesInstanceUID"))
	if newSOP == mrSOP || newSeries == mrSeries {
		t.Fatal("the MR kept its original UIDs")
	}
	item := func(ds *dicom.Dataset, path ...string) *dicom.Dataset {
		for _, kw := range path {
			e := ds.Get(dicom.MustTag(kw))
			if e == nil || len(e.Items) == 0 {
				t.Fatalf("%s removed from the segmentation", kw)
			}
			ds = e.Items[0]
		}
		return ds
	}
	if got := item(outSeg, "ReferencedSeriesSequence").String(dicom.MustTag("SeriesInstanceUID")); got != newSeries {
		t.Errorf("referenced series %s, want the MR's %s", got, newSeries)
	}
	for _, path := range [][]string{
		{"ReferencedSeriesSequence", "ReferencedInstanceSequence"},
		{"SharedFunctionalGroupsSequence", "DerivationImageSequence", "SourceImageSequence"},
		{"ReferencedImageSequence"},
	} {
		if got := item(outSeg, path...).String(dicom.MustTag("ReferencedSOPInstanceUID")); got != newSOP {
			t.Errorf("%v: referenced instance %s, want the MR's %s", path, got, newSOP)
		}
	}
	if a, b := outSeg.String(dicom.MustTag("FrameOfReferenceUID")), outMR.String(dicom.MustTag("FrameOfReferenceUID")); a == "" || a != b {
		t.Errorf("frame of reference %q vs the MR's %q", a, b)
	}
}
