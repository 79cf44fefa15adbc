package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet/ops"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

// TestRotateKeys rotates edge-a's key against a real kube-apiserver and a
// real SeaweedFS: the fake kubelet of SeaweedFS's Deployment gives the
// running weed each s3.json the rotation writes (SIGHUP reload), and
// checks at each roll which keys it accepts. Afterwards the new key puts
// under staged/edge-a/, the old key is refused, edge-b's key is
// unchanged and still works, and the secret files hold the new key
// (0600) that the edge's Secret holds too.
func TestRotateKeys(t *testing.T) {
	sw := seaweed.Start(t)
	a, b := sw.Edge("edge-a"), sw.Edge("edge-b")
	f := newFixture(t, siteKeys{sw.Admin.AccessKey, sw.Admin.SecretKey}, []string{"edge-a", "edge-b"},
		map[string]siteKeys{"edge-a": {a.AccessKey, a.SecretKey}, "edge-b": {b.AccessKey, b.SecretKey}})
	defer sw.ReloadS3Config(t, mustRead(t, sw.S3Config)) // other tests of the binary use the original keys

	put := func(c seaweed.Credentials, edge string) error {
		cl, err := sw.Client(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.PutObject(context.Background(), sw.Bucket, sw.Prefix(t, edge)+"obj", bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		return err
	}
	// eventually polls until check holds (weed reloads asynchronously,
	// normally within a second), for up to 2 minutes: a ceiling, below
	// waitCap so that the two keys of a roll fit in the rollout's wait and
	// a key that never works is reported as such.
	eventually := func(check func() error) error {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			err := check()
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	type roll struct {
		keys       []string // access keys of edge-a in the s3.json rolled out
		oldWorked  bool
		newWorked  bool
		edgeSecret string // edge-a's child Secret access key at the time
	}
	var mu sync.Mutex
	var rolls []roll
	var rollErr error
	f.mu.Lock()
	f.onRoll = func(cluster string, dep *unstructured.Unstructured) {
		if cluster != "management" || dep.GetName() != "seaweedfs" {
			return
		}
		conf := f.secret("management", render.NSSeaweedFS, render.S3ConfigSecret)["s3.json"]
		sw.ReloadS3Config(t, conf)
		ids := identities(t, conf)
		r := roll{keys: accessKeys(ids["edge-a"])}
		r.edgeSecret = string(f.secret("edge-a", render.NSIngest, render.EdgeS3Secret)["access-key"])
		creds := ids["edge-a"]
		// Each key s3.json names for edge-a must work once reloaded.
		for _, c := range creds {
			err := eventually(func() error {
				return put(seaweed.Credentials{AccessKey: c.AccessKey, SecretKey: c.SecretKey}, "edge-a")
			})
			if err != nil {
				mu.Lock()
				rollErr = err
				mu.Unlock()
			}
			if c.AccessKey == a.AccessKey {
				r.oldWorked = err == nil
			} else {
				r.newWorked = err == nil
			}
		}
		mu.Lock()
		rolls = append(rolls, r)
		mu.Unlock()
	}
	f.mu.Unlock()

	env := f.env()
	if err := env.RotateKeys(context.Background(), "edge-a"); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	t.Logf("rotate-keys:\n%s", f.out.String())
	mu.Lock()
	defer mu.Unlock()
	if rollErr != nil {
		t.Errorf("a key of the rolled s3.json did not work: %v", rollErr)
	}
	// Two rolls: old+new, then new only; the edge got the new key between.
	newAccess := strings.TrimSpace(string(mustRead(t, filepath.Join(f.dir, "secrets/edge-a-access-key"))))
	newSecret := strings.TrimSpace(string(mustRead(t, filepath.Join(f.dir, "secrets/edge-a-secret-key"))))
	if newAccess == a.AccessKey || newSecret == a.SecretKey || len(newSecret) < 32 {
		t.Fatalf("the secret files do not hold a new key")
	}
	if len(rolls) != 2 {
		t.Fatalf("SeaweedFS rolled %d times, want 2: %+v", len(rolls), rolls)
	}
	if got := rolls[0]; len(got.keys) != 2 || got.keys[0] != a.AccessKey || got.keys[1] != newAccess || !got.oldWorked || !got.newWorked || got.edgeSecret != a.AccessKey {
		t.Errorf("phase 1 roll: %+v (want old and new key accepted while the edge still has the old one)", got)
	}
	if got := rolls[1]; len(got.keys) != 1 || got.keys[0] != newAccess || !got.newWorked || got.edgeSecret != newAccess {
		t.Errorf("phase 2 roll: %+v (want the new key only, the edge already on it)", got)
	}
	for _, p := range []string{"secrets/edge-a-access-key", "secrets/edge-a-secret-key"} {
		if st, err := os.Stat(filepath.Join(f.dir, p)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}
	fresh := seaweed.Credentials{AccessKey: newAccess, SecretKey: newSecret}
	if err := put(fresh, "edge-a"); err != nil {
		t.Errorf("the new key cannot put under staged/edge-a/: %v", err)
	}
	err := put(a, "edge-a")
	if code := minio.ToErrorResponse(err).Code; code != "InvalidAccessKeyId" && code != "AccessDenied" {
		t.Errorf("the old key: %v (code %q), want refused", err, code)
	}
	if err := put(fresh, "edge-b"); err == nil {
		t.Error("the new key of edge-a can put under staged/edge-b/")
	}
	if err := put(b, "edge-b"); err != nil {
		t.Errorf("edge-b's key stopped working: %v", err)
	}
	// The edge's Secret and the management's s3.json agree with the files;
	// edge-b's keys did not change.
	es := f.secret("edge-a", render.NSIngest, render.EdgeS3Secret)
	if string(es["access-key"]) != newAccess || string(es["secret-key"]) != newSecret {
		t.Error("edge-a's Secret does not hold the new key")
	}
	if bs := f.secret("edge-b", render.NSIngest, render.EdgeS3Secret); string(bs["access-key"]) != b.AccessKey {
		t.Error("edge-b's Secret changed")
	}
	ids := identities(t, f.secret("management", render.NSSeaweedFS, render.S3ConfigSecret)["s3.json"])
	if k := accessKeys(ids["edge-b"]); len(k) != 1 || k[0] != b.AccessKey {
		t.Errorf("edge-b's identity: %v", k)
	}
	// No key in the output.
	for _, secret := range []string{newSecret, a.SecretKey, newAccess} {
		if strings.Contains(f.out.String(), secret) {
			t.Error("the output shows a key")
		}
	}

	// Rendering the fleet file again (fleet apply) gives what is live:
	// nothing to change.
	f.out.Reset()
	env = f.env()
	env.DryRun = true
	if err := env.SiteAdd(context.Background(), "edge-a", opsAddOptions()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.out.String(), " configured") || strings.Contains(f.out.String(), " created") {
		t.Errorf("after the rotation the fleet file and the clusters differ:\n%s", f.out.String())
	}
}

type cred struct{ AccessKey, SecretKey string }

func identities(t *testing.T, s3json []byte) map[string][]cred {
	var conf struct {
		Identities []struct {
			Name        string
			Credentials []cred
		}
	}
	if err := json.Unmarshal(s3json, &conf); err != nil {
		t.Fatal(err)
	}
	out := map[string][]cred{}
	for _, id := range conf.Identities {
		out[id.Name] = id.Credentials
	}
	return out
}

func accessKeys(cs []cred) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.AccessKey)
	}
	return out
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func opsAddOptions() ops.AddOptions { return ops.AddOptions{} }
