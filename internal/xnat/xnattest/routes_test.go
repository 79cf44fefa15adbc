package xnattest

import (
	"net/http"
	"strings"
	"testing"
)

// TestArchiveRoutes reads every archive route under every root, with and
// without a trailing slash, in an archive that has an item of each kind:
// the route's pattern and walk must agree on what the path names.
func TestArchiveRoutes(t *testing.T) {
	e := newEnv(t, Options{})
	e.login()
	subj := e.must("PUT", "/data/projects/P1/subjects/S1", nil, nil, 201).body
	exp := e.must("PUT", "/data/projects/P1/subjects/S1/experiments/E1?xsiType=xnat:mrSessionData", nil, nil, 201).body
	e.must("PUT", "/data/projects/P1/experiments/E1/scans/1?xsiType=xnat:mrScanData", nil, nil, 200)
	for _, owner := range []string{"/projects/P1", "/subjects/" + subj, "/experiments/" + exp, "/experiments/" + exp + "/scans/1"} {
		e.must("PUT", "/data"+owner+"/resources/R", nil, nil, 200)
		e.must("PUT", "/data"+owner+"/resources/R/files/d/f.txt?inbody=true", strings.NewReader("x"), nil, 200)
	}
	fill := strings.NewReplacer("{project}", "P1", "{subject}", subj, "{experiment}", exp, "{scan}", "1",
		"{resource}", "R", "{file...}", "d/f.txt")
	routes := archiveRoutes()
	kinds := map[string]bool{}
	for _, rt := range routes {
		kinds[rt.kind] = true
		for _, root := range roots {
			for _, slash := range []string{"", "/"} {
				path := root + fill.Replace(rt.path) + slash
				r := e.call("GET", path+"?format=json", nil, nil, false)
				if r.code != http.StatusOK {
					t.Errorf("GET %s (%s): %d %.80s", path, rt.kind, r.code, r.body)
				}
			}
		}
	}
	if len(kinds) != 12 {
		t.Errorf("routes cover %d kinds of path, want 12: %v", len(kinds), kinds)
	}

	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/data/projects/P1/nonsense", http.StatusNotFound},
		{"GET", "/data/projects/P1/subjects/S1/scans", http.StatusNotFound},
		{"GET", "/data/projects/P1/resources/R/nonsense", http.StatusNotFound},
		{"GET", "/data/projects/NOPE/subjects", http.StatusNotFound},
		{"POST", "/data/projects/P1/subjects/S1", http.StatusMethodNotAllowed},
		{"PATCH", "/data/projects/P1/resources/R/files", http.StatusMethodNotAllowed},
		{"DELETE", "/data/projects/P1", http.StatusForbidden},
		{"PUT", "/data/projects/P1/subjects/NEW/experiments/E9/scans", http.StatusNotFound},
	} {
		e.must(tc.method, tc.path, nil, nil, tc.want)
	}
	// Unauthenticated, a path no route names is a 401 first, as in XNAT.
	e.jar = ""
	if r := e.call("GET", "/data/projects/P1/nonsense", nil, nil, false); r.code != http.StatusUnauthorized {
		t.Errorf("unauthenticated unknown path: %d", r.code)
	}
}
