package xnattest

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// pullDataFromHeaders is PUT /data/experiments/{ID}?pullDataFromHeaders=true
// (SubjAssessmentResource → PullSessionDataFromHeaders): the session
// builder reads the DICOM headers of the session's files and its result is
// merged into the session. Scans are keyed by series number: a series whose
// number is not a scan ID becomes a new scan (a twin of the one holding its
// files), and a scan whose type would change fails the whole pull with
// "Modification of scan modality not supported" (500). The session's date,
// time, Study Instance UID, modality and scanner (Station Name,
// manufacturer, model) are filled from the headers. Must be called with
// s.mu held.
func (s *Server) pullDataFromHeaders(e *experiment) error {
	type series struct {
		number string
		hdrs   []Header
	}
	bySeries := map[string]*series{}
	for _, sc := range e.scans {
		for _, rs := range sc.resources {
			for _, p := range rs.order {
				h, err := readHeader(rs.files[p].Data)
				if err != nil || strings.TrimSpace(h.SeriesNumber) == "" {
					continue // not DICOM: the builder skips it
				}
				n := canonicalSeriesNumber(h.SeriesNumber)
				if bySeries[n] == nil {
					bySeries[n] = &series{number: n}
				}
				bySeries[n].hdrs = append(bySeries[n].hdrs, h)
			}
		}
	}
	if len(bySeries) == 0 {
		return nil // nothing to read; the session is left as it is (inferred)
	}
	var list []*series
	for _, se := range bySeries {
		list = append(list, se)
	}
	sort.Slice(list, func(i, j int) bool { return seriesLess(list[i].number, list[j].number) })
	types := make([]string, len(list))
	for i, se := range list {
		var uids []string
		for _, h := range se.hdrs {
			uids = append(uids, h.SOPClassUID)
		}
		types[i] = ScanTypeForSOPClasses(uids...)
		if sc := findScan(e, se.number); sc != nil && !strings.EqualFold(sc.XSIType, "xnat:imageScanData") &&
			!strings.EqualFold(sc.XSIType, types[i]) {
			return errors.New("Modification of scan modality not supported")
		}
	}
	for i, se := range list {
		h := se.hdrs[0]
		sc := findScan(e, se.number)
		if sc == nil {
			sc = s.newScan(e, se.number)
		}
		sc.XSIType, sc.UID, sc.Modality = types[i], h.SeriesInstanceUID, h.Modality
		if sc.SeriesDescription == "" {
			sc.SeriesDescription = h.SeriesDescription
		}
		if sc.Type == "" {
			sc.Type = h.SeriesDescription
		}
	}
	h := list[0].hdrs[0]
	if d := h.StudyDate; len(d) == 8 {
		e.Date = d[:4] + "-" + d[4:6] + "-" + d[6:]
	}
	if t := h.StudyTime; len(t) >= 6 {
		e.Time = t[:2] + ":" + t[2:4] + ":" + t[4:6]
	}
	e.UID, e.Modality = h.StudyInstanceUID, h.Modality
	e.Scanner, e.Manufacturer, e.Model = h.StationName, h.Manufacturer, h.ModelName
	return nil
}

func canonicalSeriesNumber(s string) string {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		return strconv.Itoa(n)
	}
	return s
}

func seriesLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}
