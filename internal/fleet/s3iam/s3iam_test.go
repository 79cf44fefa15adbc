package s3iam

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// The policy the fleet ships is the one the SeaweedFS tests prove
// put-only against a real server.
func TestEdgePolicyMatchesTestPeer(t *testing.T) {
	for _, e := range []string{"edge-a", "edge-uqcai"} {
		if got, want := EdgePolicy("ingest-bucket", e), seaweed.EdgePolicy("ingest-bucket", e); got != want {
			t.Errorf("policy for %s:\n%s\ntest peer:\n%s", e, got, want)
		}
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
