package phicorpus

// The fourth round: names in scripts other than Latin, CJK and Cyrillic
// (Hangul in ISO 2022 IR 149, Arabic, Hebrew, Thai in their ISO 8859
// sets), titles other than "Dr."/"Prof.", separators other than a space
// after a title, a second value in a single-valued descriptor, text past
// the 64-character limit, and numbers in binary numeric values.

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"github.com/aisedge/aisedge/internal/dicom"
)

func init() {
	corpusCases = append(corpusCases, casesRound4)
}

func casesRound4(g *gen) {
	for _, c := range []struct {
		name, charset, family, given, native, series string
		needles                                      []string
	}{
		{"korean-ir149", `\ISO 2022 IR 149`, "Namgung", "Minseo", "남궁^민서", "남궁민서 뇌 MRI", []string{"남궁민서", "남궁", "민서"}},
		{"arabic-ir127", "ISO_IR 127", "Alkhawarizmiyya", "Nourhane", "الخوارزمية^نورهان", "الخوارزمية نورهان", []string{"الخوارزمية", "نورهان"}},
		{"hebrew-ir138", "ISO_IR 138", "Ben-Abulafiah", "Tzofiyah", "בן-אבולעפיה^צופיה", "בן-אבולעפיה צופיה", []string{"אבולעפיה", "צופיה"}},
		{"thai-ir166", "ISO_IR 166", "Srisawangwong", "Kanyarat", "ศรีสว่างวงศ์^กัญญารัตน์", "ศรีสว่างวงศ์ กัญญารัตน์", []string{"ศรีสว่างวงศ์", "กัญญารัตน์"}},
	} {
		pt := g.newPatient(c.family, c.given)
		pt.ideo = c.native
		if c.charset != `\ISO 2022 IR 149` {
			// Single-byte sets: the name is written in the alphabetic group.
			pt.ideo = ""
			pt.family, pt.given = strings.Split(c.native, "^")[0], strings.Split(c.native, "^")[1]
			pt.nameNeedles = c.needles
		}
		g.file("charset", c.name, c.charset, pt, func(fc *fileCtx) {
			fc.put(cCharset, c.charset+" name in SeriesDescription", "patient-name", "SeriesDescription", dicom.LO, true, c.series, c.needles...)
		})
	}
	for _, c := range []struct{ name, kw, route, format string }{
		{"title-herr", "StudyDescription", "German title Herr", "Befund Herr %s"},
		{"title-mme", "StudyDescription", "French title Mme", "Examen Mme %s"},
		{"title-dott", "SeriesDescription", "Italian title Dott.", "Dott. %s"},
		{"title-sra", "ProtocolName", "Spanish title Sra.", "Sra. %s"},
		{"title-tab", "StudyDescription", "Dr. followed by a TAB", "Dr.\t%s"},
		{"title-nbsp", "SeriesDescription", "Dr followed by U+00A0", "Dr\u00a0%s"},
		{"second-value", "SeriesDescription", "a second value (after a backslash) of a single-valued descriptor", "T1 SAG\\Dr. %s"},
		{"past-64-characters", "StudyDescription", "a titled name past the 64-character limit of a LO",
			"MR BRAIN" + strings.Repeat(" ", 60) + "Dr. %s"},
	} {
		charset := ""
		if strings.ContainsRune(c.format, '\u00a0') {
			charset = "ISO_IR 100"
		}
		g.file("clean", c.name, charset, nil, func(fc *fileCtx) {
			n := g.third()
			v := strings.Replace(c.format, "%s", n, 1)
			if c.name == "second-value" || c.name == "past-64-characters" || c.name == "title-tab" {
				fc.ds.SetString(tagOf(c.kw), dicom.LO, v)
			} else {
				fc.set(fc.ds, c.kw, dicom.LO, v)
			}
			fc.plant(cClean, c.route+" in "+c.kw, "physician-name", tagOf(c.kw).String(), false, []string{v}, n)
		})
	}
	g.file("kept", "fd-diffusion-b-value-phone", "", nil, func(fc *fileCtx) {
		p := g.phoneDigits()
		v, _ := strconv.ParseUint(p, 10, 64)
		fc.ds.SetBytes(dicom.MustTag("DiffusionBValue"), dicom.FD, binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(v))))
		fc.plant(cNonE1, "(0018,9087) DiffusionBValue (FD, kept numeric) holding a phone number", "phone", "(0018,9087)", false, []string{p}, p)
	})
}
