package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/aisedge/aisedge/internal/dicom"

	"github.com/aisedge/aisedge/internal/hub"
	"github.com/aisedge/aisedge/internal/hub/hubtest"
	"github.com/aisedge/aisedge/internal/manifest"
	"github.com/aisedge/aisedge/internal/testpeer/orthanc"
)

func basicAuth(user, pass string) func() (hub.DICOMwebAuth, error) {
	return func() (hub.DICOMwebAuth, error) { return hub.DICOMwebAuth{Username: user, Password: pass}, nil }
}

// The Destination contract, checked for STOW-RS against Orthanc's DICOMweb
// plugin behind HTTP basic authentication; Orthanc keeps what STOW-RS
// sent byte for byte.
func TestDICOMwebConformance(t *testing.T) {
	o := orthanc.Start(t, orthanc.Options{DICOMweb: true, Users: map[string]string{"hub": "hub-secret"}})
	hubtest.Run(t, func(t *testing.T) hubtest.Peer {
		var sent sentCounter
		d := &hub.DICOMweb{URL: o.DICOMweb, Auth: basicAuth("hub", "hub-secret"), BatchBytes: 4 << 10, Log: slog.New(&sent)}
		return hubtest.Peer{Dest: d, Sent: func() int { return int(sent.n.Load()) },
			Held: func(t *testing.T, m *manifest.Manifest) [][]byte { return o.PatientFiles(t, m.Subject) }}
	}, hubtest.Options{
		Compare: hubtest.SameFile,
		Unreachable: func(t *testing.T) hub.Destination {
			return &hub.DICOMweb{URL: "http://" + orthanc.Unused(t) + "/dicom-web", Auth: basicAuth("hub", "hub-secret")}
		},
		WrongCredentials: func(t *testing.T) hub.Destination {
			return &hub.DICOMweb{URL: o.DICOMweb, Auth: basicAuth("hub", hubtest.Secret)}
		},
	})
}

// What STOW-RS stored comes back byte for byte through WADO-RS (PS3.18
// §10.4, transfer-syntax=* asks for the instance as stored), and QIDO-RS
// lists the study's instances.
func TestDICOMwebWADORoundTrip(t *testing.T) {
	o := orthanc.Start(t, orthanc.Options{DICOMweb: true})
	s := hubtest.NewSession(t, 2, 2)
	d := &hub.DICOMweb{URL: o.DICOMweb}
	if err := d.Deliver(t.Context(), s.M, s.Dir); err != nil {
		t.Fatal(err)
	}
	for rel, want := range s.Data {
		df, err := dicom.ParseFile(bytes.NewReader(want), &dicom.ParseOptions{StopAtPixelData: true})
		if err != nil {
			t.Fatal(err)
		}
		path := fmt.Sprintf("/studies/%s/series/%s/instances/%s", df.Dataset.String(dicom.TagStudyInstanceUID),
			df.Dataset.String(dicom.TagSeriesInstanceUID), df.Dataset.String(dicom.TagSOPInstanceUID))
		req, _ := http.NewRequest("GET", o.DICOMweb+path, nil)
		req.Header.Set("Accept", `multipart/related; type="application/dicom"; transfer-syntax=*`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("WADO-RS %s: %s, %s (%v)", rel, resp.Status, resp.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(resp.Body, params["boundary"])
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(part)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: WADO-RS gives back %d bytes that differ from the %d sent", rel, len(got), len(want))
		}
	}
	var found []map[string]any
	req, _ := http.NewRequest("GET", o.DICOMweb+"/instances?PatientID="+s.M.Subject, nil)
	req.Header.Set("Accept", "application/dicom+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&found); err != nil || len(found) != len(s.Data) {
		t.Fatalf("QIDO-RS finds %d instances of the patient (%v), want %d", len(found), err, len(s.Data))
	}
}
