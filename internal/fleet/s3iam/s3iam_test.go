package s3iam

import (
	"encoding/json"
	"strings"
	"testing"
)

// The policy is exactly the put-only one of test-peers.md (the SeaweedFS
// test peer runs with this same function, and its tests prove put-only
// against a real server: delete, read and other prefixes refused).
func TestEdgePolicy(t *testing.T) {
	want := `{"Statement":[{"Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],` +
		`"Effect":"Allow","Resource":["arn:aws:s3:::ingest-bucket/staged/edge-a/*"]},` +
		`{"Action":["s3:ListBucket","s3:ListBucketMultipartUploads"],"Condition":{"StringLike":{"s3:prefix":["staged/edge-a/*"]}},` +
		`"Effect":"Allow","Resource":["arn:aws:s3:::ingest-bucket"]}],"Version":"2012-10-17"}`
	if got := EdgePolicy("ingest-bucket", "edge-a"); got != want {
		t.Errorf("policy:\n%s\nwant:\n%s", got, want)
	}
}

func TestConfig(t *testing.T) {
	b := Config("ingest-bucket", Key{"admin", "admin-secret"}, map[string]Key{
		"edge-b": {"kb", "sb"}, "edge-a": {"ka", `s"a`},
	})
	var conf struct {
		Identities []struct {
			Name        string
			Credentials []struct{ AccessKey, SecretKey string }
			Actions     []string
			PolicyNames []string
		}
		Policies []struct{ Name, Content string }
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if len(conf.Identities) != 3 || conf.Identities[0].Name != "admin" || conf.Identities[1].Name != "edge-a" || conf.Identities[2].Name != "edge-b" {
		t.Fatalf("identities %+v", conf.Identities)
	}
	a := conf.Identities[1]
	if len(a.Actions) != 0 || a.PolicyNames[0] != "edge-edge-a" || a.Credentials[0].SecretKey != `s"a` {
		t.Errorf("edge identity %+v", a)
	}
	if len(conf.Policies) != 2 || !strings.Contains(conf.Policies[0].Content, "arn:aws:s3:::ingest-bucket/staged/edge-a/*") {
		t.Errorf("policies %+v", conf.Policies)
	}
	if string(b) != string(Config("ingest-bucket", Key{"admin", "admin-secret"}, map[string]Key{"edge-a": {"ka", `s"a`}, "edge-b": {"kb", "sb"}})) {
		t.Error("not deterministic")
	}
}

// During a rotation an identity carries both keys, old first; the other
// identities are those Config gives.
func TestConfigKeys(t *testing.T) {
	admin := Key{"admin", "admin-secret"}
	b := ConfigKeys("ingest-bucket", admin, map[string][]Key{
		"edge-a": {{"old-a", "old-secret"}, {"new-a", "new-secret"}},
		"edge-b": {{"kb", "sb"}},
	})
	var conf struct {
		Identities []struct {
			Name        string
			Credentials []struct{ AccessKey, SecretKey string }
		}
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	a := conf.Identities[1]
	if a.Name != "edge-a" || len(a.Credentials) != 2 || a.Credentials[0].AccessKey != "old-a" || a.Credentials[1].AccessKey != "new-a" {
		t.Errorf("rotating identity %+v", a)
	}
	single := Config("ingest-bucket", admin, map[string]Key{"edge-a": {"new-a", "new-secret"}, "edge-b": {"kb", "sb"}})
	if got := ConfigKeys("ingest-bucket", admin, map[string][]Key{"edge-a": {{"new-a", "new-secret"}}, "edge-b": {{"kb", "sb"}}}); string(got) != string(single) {
		t.Error("one key per edge differs from Config")
	}
}
