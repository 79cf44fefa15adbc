package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSetupRefuses(t *testing.T) {
	env := map[string]string{"XNAT_USER": "hub", "XNAT_PASS": "secret"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no projects", nil, env, "names no project"},
		{"blank projects", []string{"-projects", " , "}, env, "names no project"},
		{"no account", []string{"-projects", "P1"}, map[string]string{"XNAT_USER": "hub"}, "XNAT_USER and XNAT_PASS"},
		{"bad flag", []string{"-port", "1"}, env, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := setup(tc.args, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// The account owns the projects and may list them; another is refused.
func TestSetupServes(t *testing.T) {
	env := map[string]string{"XNAT_USER": "hub", "XNAT_PASS": `pa:ss "word"`}
	x, listen, err := setup([]string{"-listen", "0.0.0.0:9999", "-projects", "P1, P2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if listen != "0.0.0.0:9999" {
		t.Errorf("listen = %q", listen)
	}
	srv := httptest.NewServer(x)
	defer srv.Close()
	get := func(user, pass string) (int, []string) {
		req, _ := http.NewRequest("GET", srv.URL+"/data/projects?format=json", nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			ResultSet struct {
				Result []struct{ ID string }
			}
		}
		json.NewDecoder(resp.Body).Decode(&body)
		var ids []string
		for _, r := range body.ResultSet.Result {
			ids = append(ids, r.ID)
		}
		return resp.StatusCode, ids
	}
	if code, ids := get("hub", env["XNAT_PASS"]); code != 200 || strings.Join(ids, ",") != "P1,P2" {
		t.Errorf("the account: %d %v, want 200 [P1 P2]", code, ids)
	}
	if code, _ := get("hub", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password: %d, want 401", code)
	}
}
