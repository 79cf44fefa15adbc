package route

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// legacy is a routing.json in the original system's shape (templates with
// comments, examples and Defaults), read unchanged.
const legacy = `{
  "_comment": "Map each modality's Called-AET to an XNAT project. Keys starting with _ are ignored.",
  "AETMap": {
    "_example": {"project": "EXAMPLE"},
    "CT_SCANNER_1": {"project": "PROJ_CT"},
    "mr_research": {"project": "PROJ_MR", "recipe": "research-default", "_note": "lower case is a different AET"},
    "PET1": {"project": "PROJ_PET", "site": "north"}
  },
  "Defaults": {
    "DeidentificationProfileFile": "/etc/orthanc/deidentification-profile.json",
    "FacilityBackupDir": "/facility-backup",
    "DeidEnabled": false,
    "_hint": "ignored"
  }
}`

func TestLegacy(t *testing.T) {
	tab, err := Parse([]byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	if !tab.Legacy || tab.Unknown != Quarantine {
		t.Errorf("legacy=%v unknown=%v", tab.Legacy, tab.Unknown)
	}
	cases := []struct {
		aet, project, profile string
		ok                    bool
	}{
		{"CT_SCANNER_1", "PROJ_CT", "", true},
		{"ct_scanner_1", "", "", false}, // case-sensitive
		{"mr_research", "PROJ_MR", "research-default", true},
		{"MR_RESEARCH", "", "", false},
		{"_example", "", "", false}, // _ keys ignored
		{"PET1", "PROJ_PET", "", true},
	}
	for _, c := range cases {
		r, ok := tab.Lookup(c.aet)
		if ok != c.ok || r.Project != c.project || r.Profile != c.profile {
			t.Errorf("Lookup(%q) = %+v, %v", c.aet, r, ok)
		}
	}
	if r, _ := tab.Lookup("PET1"); string(r.Extra["site"]) != `"north"` {
		t.Errorf("extra keys not kept: %v", r.Extra)
	}
	if tab.DeidEnabled() || tab.Defaults.FacilityBackupDir != "/facility-backup" {
		t.Errorf("defaults: %+v", tab.Defaults)
	}
	if len(tab.Routes()) != 3 {
		t.Errorf("routes: %v", tab.Routes())
	}
	// Unknown AETs are quarantined, as in the original.
	d, err := tab.Admit("NOBODY", "MOD", &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 104})
	if err != nil || !d.Quarantine || d.Route.CalledAET != "NOBODY" {
		t.Errorf("unknown AET: %+v %v", d, err)
	}
}

func TestLegacyMinimalAndErrors(t *testing.T) {
	tab, err := Parse([]byte(`{"AETMap":{"A":{"project":"P"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if tab.Defaults.DeidentificationProfileFile != DefaultProfileFile || !tab.DeidEnabled() {
		t.Errorf("defaults not filled: %+v", tab.Defaults)
	}
	for _, bad := range []string{
		`{"AETMap":[]}`,
		`{"AETMap":{"A":"P"}}`,
		`{"AETMap":{"A":{}}}`,
		`{"AETMap":{"A":{"project":3}}}`,
		`not json`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
	tab, err = Parse([]byte(`{"AETMap":{"THIS_AET_IS_WAY_TOO_LONG":{"project":"P"}, " SP":{"project":"Q"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Routes()) != 0 || len(tab.Warnings) != 2 {
		t.Errorf("dead entries: routes %v warnings %v", tab.Routes(), tab.Warnings)
	}
}

func TestNative(t *testing.T) {
	tab, err := Parse([]byte(`{
	  "routes": [{"calledAET": "CT1", "project": "P1", "profile": "strict"}],
	  "unknownCalledAET": "reject",
	  "allowCallingAETs": ["MOD1", "MOD2"],
	  "allowSources": ["10.0.0.0/8", "127.0.0.1", "::1"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	addr := func(s string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(s), Port: 5000} }
	cases := []struct {
		called, calling, from string
		want                  error
	}{
		{"CT1", "MOD1", "10.9.8.7", nil},
		{"CT1", "MOD2", "127.0.0.1", nil},
		{"CT1", "MOD1", "::ffff:10.0.0.1", nil},
		{"CT1", "MOD1", "::1", nil},
		{"CT1", "MOD1", "192.168.1.1", ErrSourceNotAllowed},
		{"CT1", "OTHER", "10.0.0.1", ErrCallingAETNotAllowed},
		{"XX", "MOD1", "10.0.0.1", ErrUnknownCalledAET},
	}
	for _, c := range cases {
		d, err := tab.Admit(c.called, c.calling, addr(c.from))
		if !errors.Is(err, c.want) {
			t.Errorf("Admit(%s,%s,%s) = %v, want %v", c.called, c.calling, c.from, err, c.want)
		}
		if err == nil && d.Route.Project != "P1" {
			t.Errorf("route %+v", d.Route)
		}
		var ae *AdmitError
		if err != nil && !errors.As(err, &ae) {
			t.Errorf("error %T is not an *AdmitError", err)
		}
	}
	if _, err := tab.Admit("CT1", "MOD1", nil); !errors.Is(err, ErrSourceNotAllowed) {
		t.Errorf("nil remote with a source list: %v", err)
	}
	for _, bad := range []string{
		`{"routes":[], "unknown": "reject"}`,
		`{"routes":[], "unknownCalledAET": "drop"}`,
		`{"routes":[{"calledAET":"A","project":"P"},{"calledAET":"A","project":"Q"}]}`,
		`{"routes":[{"calledAET":"","project":"P"}]}`,
		`{"routes":[{"calledAET":"A\\B","project":"P"}]}`,
		`{"routes":[], "allowSources": ["10.0.0.0/33"]}`,
		`{"routes":[], "allowCallingAETs": [""]}`,
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestLoadFromEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "routing.json")
	if err := os.WriteFile(p, []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvRoutingFile, p)
	tab, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tab.Lookup("CT_SCANNER_1"); !ok {
		t.Error("route missing")
	}
	t.Setenv(EnvRoutingFile, "")
	if _, err := Load(""); err == nil || !strings.Contains(err.Error(), EnvRoutingFile) {
		t.Errorf("no path: %v", err)
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"CT_SCANNER-1": "CT_SCANNER-1",
		"../etc":       "%2E.%2Fetc",
		"a/b":          "a%2Fb",
		"":             "%00",
		"x y":          "x%20y",
		".hidden":      "%2Ehidden",
	} {
		if got := SafeName(in); got != want {
			t.Errorf("SafeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCatchAll(t *testing.T) {
	tab := CatchAll("STANDALONE")
	for _, aet := range []string{"AISEDGE", "ANYTHING"} {
		r, ok := tab.Lookup(aet)
		if !ok || r.Project != "STANDALONE" || r.CalledAET != aet {
			t.Fatalf("Lookup(%s) = %+v %v", aet, r, ok)
		}
		d, err := tab.Admit(aet, "SCU", nil)
		if err != nil || d.Quarantine || d.Route.Project != "STANDALONE" {
			t.Fatalf("Admit(%s) = %+v %v", aet, d, err)
		}
	}
}
