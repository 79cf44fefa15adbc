package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aisedge/aisedge/internal/fleet"
	"github.com/aisedge/aisedge/internal/fleet/kube"
	"github.com/aisedge/aisedge/internal/fleet/render"
	"github.com/aisedge/aisedge/internal/fleet/s3iam"
)

// liveKeys returns the credentials of an identity in the live s3.json
// (the s3-config Secret), in order; found is false without the identity.
func liveKeys(ctx context.Context, mc *kube.Client, identity string) (keys []s3iam.Key, found bool, err error) {
	data, err := secretData(ctx, mc, render.NSSeaweedFS, render.S3ConfigSecret)
	if err != nil {
		return nil, false, err
	}
	if data == nil {
		return nil, false, fmt.Errorf("management: Secret %s/%s does not exist: run aisedge fleet apply first", render.NSSeaweedFS, render.S3ConfigSecret)
	}
	var conf struct {
		Identities []struct {
			Name        string `json:"name"`
			Credentials []struct {
				AccessKey string `json:"accessKey"`
				SecretKey string `json:"secretKey"`
			} `json:"credentials"`
		} `json:"identities"`
	}
	if err := json.Unmarshal(data["s3.json"], &conf); err != nil {
		return nil, false, fmt.Errorf("management: Secret %s/%s: s3.json: %w", render.NSSeaweedFS, render.S3ConfigSecret, err)
	}
	for _, id := range conf.Identities {
		if id.Name == identity {
			for _, c := range id.Credentials {
				keys = append(keys, s3iam.Key{AccessKey: c.AccessKey, SecretKey: c.SecretKey})
			}
			return keys, true, nil
		}
	}
	return nil, false, nil
}

// NewKey returns a random S3 key pair: a 24-character access key and a
// 40-character secret key (160 bits), both hex.
func NewKey() (s3iam.Key, error) {
	a, s := make([]byte, 12), make([]byte, 20)
	if _, err := rand.Read(a); err != nil {
		return s3iam.Key{}, err
	}
	if _, err := rand.Read(s); err != nil {
		return s3iam.Key{}, err
	}
	return s3iam.Key{AccessKey: "ae" + hex.EncodeToString(a)[:22], SecretKey: hex.EncodeToString(s)}, nil
}

// withKey returns a copy of the configuration in which site carries key.
func withKey(c *fleet.Config, site string, k s3iam.Key) *fleet.Config {
	cp := *c
	cp.Sites = append([]fleet.Site(nil), c.Sites...)
	for i := range cp.Sites {
		if cp.Sites[i].Name == site {
			s := &cp.Sites[i]
			s.S3AccessKey = fleet.Literal(k.AccessKey, s.S3AccessKey.File)
			s.S3SecretKey = fleet.Literal(k.SecretKey, s.S3SecretKey.File)
		}
	}
	return &cp
}

// RotateKeys gives a site's edge a new random S3 key without losing an
// upload:
//
//	phase 1  s3.json: the site's identity accepts old and new key; SeaweedFS rolls
//	         the new key is written to the fleet file's secret files (0600)
//	         the child cluster's edge Secret gets the new key; the edge rolls
//	phase 2  s3.json: the new key only; SeaweedFS rolls (the old key is refused)
//
// Other sites' keys do not change. The live s3.json tells how far an
// interrupted rotation got, so running it again finishes that rotation
// (a run after a finished rotation starts a new one). Keys given through
// environment variables cannot be written, and are refused with the fix.
func (e *Env) RotateKeys(ctx context.Context, name string) error {
	s, err := e.site(name)
	if err != nil {
		return err
	}
	for _, ref := range []struct {
		field string
		sec   fleet.Secret
	}{{"s3AccessKey", s.S3AccessKey}, {"s3SecretKey", s.S3SecretKey}} {
		switch {
		case ref.sec.Env != "":
			return fmt.Errorf("site %s: %s comes from $%s, which aisedge cannot change: point sites[].%s at a file ({file: PATH}) holding the current key, then rotate again (or rotate by hand: new key in s3.json and the edge's Secret, then set $%s)", name, ref.field, ref.sec.Env, ref.field, ref.sec.Env)
		case ref.sec.File == "":
			return fmt.Errorf("site %s: %s is not read from a file (the original's env files hold keys inline): convert to a fleet file with {file: PATH} secrets to rotate keys", name, ref.field)
		}
	}
	cur := s3iam.Key{AccessKey: s.S3AccessKey.Value(), SecretKey: s.S3SecretKey.Value()}
	mc, err := e.mgmt()
	if err != nil {
		return err
	}
	live, found, err := liveKeys(ctx, mc, name)
	if err != nil {
		return err
	}
	var old, fresh s3iam.Key
	filesDone := false
	switch {
	case !found:
		return fmt.Errorf("site %s has no identity in the live s3.json: run aisedge fleet site add %s first", name, name)
	case len(live) == 1 && live[0] == cur:
		old = cur
		if fresh, err = NewKey(); err != nil {
			return err
		}
		e.say("site %s: rotating its S3 key (phase 1: old and new key accepted)", name)
	case len(live) == 2 && live[0] == cur:
		old, fresh = cur, live[1]
		e.say("site %s: resuming a key rotation (s3.json accepts old and new key; the new key is not in the secret files yet)", name)
	case len(live) == 2 && live[1] == cur:
		old, fresh, filesDone = live[0], cur, true
		e.say("site %s: resuming a key rotation (the new key is in the secret files)", name)
	default:
		return fmt.Errorf("site %s: the live s3.json holds %s for it, none of them the key of the fleet file's secret files in the expected place; run aisedge fleet apply to make them agree, then rotate", name, plural(len(live), "key", "keys"))
	}

	// Phase 1: SeaweedFS accepts both keys.
	both, err := render.Render(withKey(e.Config, name, old), render.Options{ExtraEdgeKeys: map[string][]s3iam.Key{name: {fresh}}})
	if err != nil {
		return err
	}
	objs := pick(&both.Management, s3Objects)
	if _, err := mc.Apply(ctx, objs); err != nil {
		return err
	}
	if err := mc.Wait(ctx, objs, e.timeout()); err != nil {
		return fmt.Errorf("phase 1: %w", err)
	}

	// The new key into the secret files.
	if !filesDone {
		if e.DryRun {
			e.would("write the new key to %s and %s (0600)", s.S3AccessKey.File, s.S3SecretKey.File)
		} else {
			for _, f := range []struct{ path, v string }{{s.S3AccessKey.File, fresh.AccessKey}, {s.S3SecretKey.File, fresh.SecretKey}} {
				if err := writeFileAtomic(e.Config.Path(f.path), []byte(f.v+"\n"), 0o600); err != nil {
					return fmt.Errorf("site %s: writing the new key: %w (s3.json accepts both keys; rerun to finish)", name, err)
				}
			}
			e.say("site %s: new key written to %s and %s (0600)", name, s.S3AccessKey.File, s.S3SecretKey.File)
		}
	}

	// The edge gets the new key and rolls.
	withNew := withKey(e.Config, name, fresh)
	only, err := render.Render(withNew, render.Options{})
	if err != nil {
		return err
	}
	site, _ := only.Site(name)
	cc, err := e.child(ctx, s)
	if err != nil {
		return fmt.Errorf("%w (s3.json accepts both keys; rerun to finish the rotation once the site is reachable)", err)
	}
	edge := pick(site, func(o *unstructured.Unstructured) bool {
		return is(o, "Secret", render.NSIngest, render.EdgeS3Secret) || is(o, "Deployment", render.NSIngest, render.EdgeDeployment)
	})
	if _, err := cc.Apply(ctx, edge); err != nil {
		return err
	}
	if err := cc.Wait(ctx, edge, e.timeout()); err != nil {
		return fmt.Errorf("the edge did not roll with the new key: %w (s3.json still accepts both keys; rerun to finish)", err)
	}

	// Phase 2: the new key only.
	e.say("site %s: phase 2: s3.json with the new key only", name)
	objs = pick(&only.Management, s3Objects)
	if _, err := mc.Apply(ctx, objs); err != nil {
		return err
	}
	if err := mc.Wait(ctx, objs, e.timeout()); err != nil {
		return fmt.Errorf("phase 2: %w", err)
	}
	if e.DryRun {
		e.say("dry run: nothing was changed")
		return nil
	}
	e.say("site %s: key rotated; the old key is refused, other sites' keys are unchanged", name)
	return nil
}
