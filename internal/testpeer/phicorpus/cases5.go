package phicorpus

// The fifth round: the patient's own name written the way people write
// hyphenated and apostrophised names (one half of a double-barrelled
// name, O'Brien as OBRIEN or with a typographic apostrophe), and the
// patient's own numbers (birth date, an eight-digit record number, a
// record number without its leading zeros) in kept number slots, where
// they have fewer digits than a phone number.

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesRound5)
}

func casesRound5(g *gen) {
	// Double-barrelled family name: the second half alone.
	{
		a, b := g.word(3, 7), g.word(3, 7)
		pt := g.newPatient(a+"-"+b, "")
		fc := g.synthetic("names/hyphenated-family-second-half.dcm", "", pt)
		fc.put(cClean, "the second half of the known hyphenated family name, alone and in capitals, in SeriesDescription", "family-name",
			"SeriesDescription", dicom.LO, true, "T2 TSE "+upper(b), b)
		fc.write()
	}
	// Hyphenated given name: one half in StudyDescription.
	{
		a, b := g.word(2, 5), g.word(3, 7)
		pt := g.newPatient("", a+"-"+b)
		fc := g.synthetic("names/hyphenated-given-half.dcm", "", pt)
		fc.put(cClean, "the second half of the known hyphenated given name in StudyDescription", "given-name",
			"StudyDescription", dicom.LO, true, "MR KNEE "+upper(b), b)
		fc.write()
	}
	// O'Name: written without the apostrophe, and with U+2019.
	{
		b := g.word(3, 7)
		pt := g.newPatient("O'"+b, "")
		pt.nameNeedles = []string{b}
		fc := g.synthetic("names/apostrophe-dropped.dcm", "", pt)
		fc.put(cClean, "the known family name O'X written OX (no apostrophe) in SeriesDescription", "family-name",
			"SeriesDescription", dicom.LO, true, "DWI O"+upper(b), b)
		fc.write()
	}
	{
		b := g.word(3, 7)
		pt := g.newPatient("D'"+b, "")
		pt.nameNeedles = []string{b}
		fc := g.synthetic("names/apostrophe-typographic.dcm", "ISO_IR 192", pt)
		fc.put(cClean, "the known family name D'X written with U+2019 in SeriesDescription", "family-name",
			"SeriesDescription", dicom.LO, true, "FLAIR D\u2019"+upper(b), b)
		fc.write()
	}
	// The birth date as a binary number in a kept FD slot.
	g.file("numbers", "fd-birth-date", "", nil, func(fc *fileCtx) {
		v, _ := strconv.ParseUint(fc.pt.dob, 10, 64)
		fc.ds.SetBytes(dicom.MustTag("DiffusionBValue"), dicom.FD, binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(v))))
		fc.plant(cNonE1, "(0018,9087) DiffusionBValue (FD) holding the birth date YYYYMMDD as a number", "birth-date", "(0018,9087)", true, []string{fc.pt.dob}, fc.pt.dob)
	})
	// An eight-digit record number (shorter than a phone number) in a
	// kept FD slot.
	{
		pt := g.newPatient("", "")
		pt.mrn = g.number(8)
		fc := g.synthetic("numbers/fd-mrn-8-digits.dcm", "", pt)
		v, _ := strconv.ParseUint(pt.mrn, 10, 64)
		fc.ds.SetBytes(dicom.MustTag("DiffusionBValue"), dicom.FD, binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(v))))
		fc.plant(cNonE1, "(0018,9087) DiffusionBValue (FD) holding the eight-digit Patient ID as a number", "mrn", "(0018,9087)", true, []string{pt.mrn}, pt.mrn)
		fc.write()
	}
	// A record number with leading zeros, written without them in an IS.
	{
		pt := g.newPatient("", "")
		short := g.number(7)
		pt.mrn = "000" + short
		fc := g.synthetic("numbers/is-mrn-without-leading-zeros.dcm", "", pt)
		fc.ds.SetString(dicom.MustTag("AcquisitionNumber"), dicom.IS, short)
		fc.plant(cNonE1, "(0020,0012) AcquisitionNumber (IS) holding the Patient ID without its leading zeros", "mrn", "(0020,0012)", true, []string{short}, short)
		fc.write()
	}
}
