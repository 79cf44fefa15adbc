package orthanc

import (
	"errors"
	"net/http"
	"testing"

	"github.com/aisedge/aisedge/internal/dimse"
)

// The peer serves DICOMweb behind its users' credentials and accepts
// associations only from the calling AE titles it was given.
func TestStart(t *testing.T) {
	o := Start(t, Options{DICOMweb: true, Users: map[string]string{"hub": "hub-secret"}, CallingAETs: []string{"HUB"}})
	for _, tc := range []struct {
		user, pass string
		want       int
	}{{"hub", "hub-secret", http.StatusOK}, {"hub", "wrong", http.StatusUnauthorized}, {"", "", http.StatusUnauthorized}} {
		req, _ := http.NewRequest("GET", o.DICOMweb+"/studies", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("QIDO-RS as %q/%q: %s, want %d", tc.user, tc.pass, resp.Status, tc.want)
		}
	}
	c, err := dimse.Dial(t.Context(), o.DICOMAddr, dimse.DialConfig{CallingAET: "HUB", CalledAET: AET})
	if err != nil {
		t.Fatalf("a known calling AE title: %v", err)
	}
	if err := c.Echo(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.Release()
	_, err = dimse.Dial(t.Context(), o.DICOMAddr, dimse.DialConfig{CallingAET: "STRANGER", CalledAET: AET})
	var rej *dimse.Rejection
	if !errors.As(err, &rej) {
		t.Fatalf("an unknown calling AE title: %v, want a rejection", err)
	}
	if *rej != *dimse.RejectCallingAET {
		t.Errorf("an unknown calling AE title: %+v, want %+v", *rej, *dimse.RejectCallingAET)
	}
}
