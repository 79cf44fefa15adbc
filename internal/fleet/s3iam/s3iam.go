// Package s3iam builds SeaweedFS's S3 identity file (s3.json) for a fleet:
// one admin identity (the hub's) and, per edge, a key bound to an IAM
// policy that allows putting objects under staged/<edge>/ of the bucket and
// nothing else — no read, no delete, no other site's prefix (the original
// gave every edge Read/Write/List on the whole bucket).
//
// It has no dependencies; internal/fleet/render and the SeaweedFS test peer
// use it, so the policy the deployment ships is the one the tests prove
// against a real SeaweedFS.
package s3iam

import (
	"encoding/json"
	"sort"
)

// Key is an S3 access key pair.
type Key struct {
	AccessKey string
	SecretKey string
}

// Prefix is where an edge may write: staged/<edge>/.
func Prefix(edge string) string { return "staged/" + edge + "/" }

// PolicyName names an edge's policy in s3.json.
func PolicyName(edge string) string { return "edge-" + edge }

// EdgePolicy returns the IAM policy document that confines an edge key to
// putting (and listing) objects under staged/<edge>/ of bucket.
func EdgePolicy(bucket, edge string) string {
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{
				"Effect":   "Allow",
				"Action":   []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				"Resource": []string{"arn:aws:s3:::" + bucket + "/" + Prefix(edge) + "*"},
			},
			{
				"Effect":    "Allow",
				"Action":    []string{"s3:ListBucket", "s3:ListBucketMultipartUploads"},
				"Resource":  []string{"arn:aws:s3:::" + bucket},
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{Prefix(edge) + "*"}}},
			},
		},
	}
	b, _ := json.Marshal(doc) // maps of strings: cannot fail
	return string(b)
}

type cred struct {
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

type identity struct {
	Name        string   `json:"name"`
	Credentials []cred   `json:"credentials"`
	Actions     []string `json:"actions"`
	PolicyNames []string `json:"policyNames,omitempty"`
}

type policy struct {
	Name    string `json:"name"`
	Content string `json:"content"`
}

// Config returns s3.json: the admin identity named admin and one put-only
// identity per edge (named after the edge), sorted by edge name so that
// the same fleet always gives the same bytes.
func Config(bucket string, admin Key, edges map[string]Key) []byte {
	keys := make(map[string][]Key, len(edges))
	for n, k := range edges {
		keys[n] = []Key{k}
	}
	return ConfigKeys(bucket, admin, keys)
}

// ConfigKeys is Config with any number of keys per edge identity, in the
// order given: during a key rotation an edge's identity holds its old and
// its new key at once, so that uploads signed with either are accepted.
func ConfigKeys(bucket string, admin Key, edges map[string][]Key) []byte {
	var conf struct {
		Identities []identity `json:"identities"`
		Policies   []policy   `json:"policies"`
	}
	conf.Identities = append(conf.Identities, identity{
		Name: "admin", Credentials: []cred{{admin.AccessKey, admin.SecretKey}},
		Actions: []string{"Admin", "Read", "Write", "List", "Tagging"},
	})
	names := make([]string, 0, len(edges))
	for n := range edges {
		names = append(names, n)
	}
	sort.Strings(names)
	conf.Policies = []policy{}
	for _, n := range names {
		creds := []cred{}
		for _, k := range edges[n] {
			creds = append(creds, cred{k.AccessKey, k.SecretKey})
		}
		conf.Identities = append(conf.Identities, identity{
			Name: n, Credentials: creds,
			Actions: []string{}, PolicyNames: []string{PolicyName(n)},
		})
		conf.Policies = append(conf.Policies, policy{Name: PolicyName(n), Content: EdgePolicy(bucket, n)})
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return append(b, '\n')
}
