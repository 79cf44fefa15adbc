package seaweed_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/aisedge/aisedge/internal/testpeer/seaweed"
)

func TestMain(m *testing.M) { os.Exit(seaweed.Main(m)) }

func TestServer(t *testing.T) {
	srv := seaweed.Start(t)
	if !strings.HasPrefix(srv.Endpoint, "https://127.0.0.1:") {
		t.Errorf("Endpoint = %s", srv.Endpoint)
	}
	if again := seaweed.Start(t); again != srv {
		t.Error("Start did not return the shared server")
	}
	c, err := srv.Client(srv.Admin)
	if err != nil {
		t.Fatal(err)
	}
	key := srv.Prefix(t, "edge-a") + "hello"
	if !strings.HasPrefix(key, "staged/edge-a/TestServer-") {
		t.Errorf("Prefix gave %s", key)
	}
	if _, err := c.PutObject(t.Context(), srv.Bucket, key, bytes.NewReader([]byte("hi")), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("admin PUT over HTTPS: %v", err)
	}
	if _, err := c.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{}); err != nil {
		t.Fatalf("admin HEAD: %v", err)
	}
	c.RemoveObject(t.Context(), srv.Bucket, key, minio.RemoveObjectOptions{})
}

func TestEdgePolicy(t *testing.T) {
	var doc struct {
		Statement []struct {
			Action    []string
			Resource  []string
			Condition map[string]map[string][]string
		}
	}
	if err := json.Unmarshal([]byte(seaweed.EdgePolicy("ingest-bucket", "edge-a")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 2 ||
		doc.Statement[0].Resource[0] != "arn:aws:s3:::ingest-bucket/staged/edge-a/*" ||
		doc.Statement[1].Resource[0] != "arn:aws:s3:::ingest-bucket" ||
		doc.Statement[1].Condition["StringLike"]["s3:prefix"][0] != "staged/edge-a/*" {
		t.Errorf("policy = %+v", doc)
	}
	for _, st := range doc.Statement {
		for _, a := range st.Action {
			if strings.Contains(a, "Get") || strings.Contains(a, "Delete") || a == "s3:*" {
				t.Errorf("edge policy allows %s", a)
			}
		}
	}
}

// Down and up: an outage refuses connections, then the data is still there.
func TestDownUp(t *testing.T) {
	srv := seaweed.Start(t)
	c, err := srv.Client(srv.Admin)
	if err != nil {
		t.Fatal(err)
	}
	key := srv.Prefix(t, "edge-b") + "kept"
	if _, err := c.PutObject(t.Context(), srv.Bucket, key, bytes.NewReader([]byte("kept")), 4, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	up := srv.Down(t)
	if _, err := c.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{}); err == nil {
		t.Error("HEAD succeeded while the server was down")
	}
	up()
	if _, err := c.StatObject(t.Context(), srv.Bucket, key, minio.StatObjectOptions{}); err != nil {
		t.Errorf("after a restart the object is gone: %v", err)
	}
}

// ReloadS3Config: a key replaced in s3.json is refused after the reload,
// the new one works, without a restart.
func TestReloadS3Config(t *testing.T) {
	srv := seaweed.Start(t)
	put := func(c seaweed.Credentials, key string) error {
		cl, err := srv.Client(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.PutObject(t.Context(), srv.Bucket, key, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{})
		return err
	}
	old := srv.Edge("edge-b")
	key := srv.Prefix(t, "edge-b") + "obj"
	if err := put(old, key); err != nil {
		t.Fatalf("edge-b before: %v", err)
	}
	b, err := os.ReadFile(srv.S3Config)
	if err != nil {
		t.Fatal(err)
	}
	fresh := seaweed.Credentials{AccessKey: "edgebrotated01", SecretKey: "rotated-secret-0123456789"}
	conf := strings.Replace(string(b), `"accessKey": "`+old.AccessKey+`"`, `"accessKey": "`+fresh.AccessKey+`"`, 1)
	conf = strings.Replace(conf, `"secretKey": "`+old.SecretKey+`"`, `"secretKey": "`+fresh.SecretKey+`"`, 1)
	srv.ReloadS3Config(t, []byte(conf))
	defer srv.ReloadS3Config(t, b)
	// A ceiling, not a budget: the loop ends as soon as the reload shows.
	deadline := time.Now().Add(time.Minute)
	for {
		newErr, oldErr := put(fresh, key), put(old, key)
		if newErr == nil && oldErr != nil {
			if code := minio.ToErrorResponse(oldErr).Code; code != "InvalidAccessKeyId" && code != "AccessDenied" {
				t.Errorf("old key refused with %q", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reload: new key: %v; old key: %v", newErr, oldErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
