package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/remotetest"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// testPart is the part size and upload cutoff of the test remotes: S3's
// minimum, so that the suite's large files go up in several parts.
const testPart = 5 * MiB

// newTestRemote returns a Remote on a fresh bucket of srv under prefix.
func newTestRemote(t *testing.T, srv *s3test.Server, prefix string, tweak ...func(*Config)) *Remote {
	t.Helper()
	cfg := Config{
		Bucket: srv.NewBucket(t), Prefix: prefix, Endpoint: srv.Endpoint,
		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey,
		PartSize: testPart, UploadCutoff: testPart,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	r, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// keyPrefix returns the key prefix Config.Prefix p becomes.
func keyPrefix(p string) string {
	if p == "" {
		return ""
	}
	return p + "/"
}

func TestConformance(t *testing.T) {
	srv := s3test.Start(t)
	for _, prefix := range []string{"", "some prefix/ferry"} {
		name := "NoPrefix"
		if prefix != "" {
			name = "Prefix"
		}
		t.Run(name, func(t *testing.T) {
			remotetest.RunWithOptions(t, func(t *testing.T) remote.Remote {
				return newTestRemote(t, srv, prefix)
			}, remotetest.Options{
				MaxKeyLen: maxKeyLen - len(keyPrefix(prefix)),
				Symlinks:  true,
				PartSize:  testPart,
				Resumable: true,
			})
		})
	}
}

// TestConformanceAWS runs the suite against a real bucket when
// FERRY_TEST_S3_BUCKET names one; credentials and region come from the
// usual AWS variables or profile, and FERRY_TEST_S3_ENDPOINT may point at
// another S3-compatible service. Everything is written below a fresh
// prefix, removed at the end.
func TestConformanceAWS(t *testing.T) {
	bucket := os.Getenv("FERRY_TEST_S3_BUCKET")
	if bucket == "" {
		t.Skip("FERRY_TEST_S3_BUCKET is not set: set it (with AWS credentials and region) to run the suite against real S3")
	}
	b := make([]byte, 6)
	rand.Read(b)
	base := "ferry-test-" + hex.EncodeToString(b)
	cfg := Config{Bucket: bucket, Endpoint: os.Getenv("FERRY_TEST_S3_ENDPOINT"), PartSize: testPart, UploadCutoff: testPart}
	root := cfg
	root.Prefix = base
	top, err := New(t.Context(), root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		objs, err := top.listAll(ctx, "cleanup", top.Prefix())
		for _, o := range objs {
			if err == nil {
				err = top.deleteKey(ctx, "cleanup", o.key, "")
			}
		}
		if _, cerr := top.CleanupUploads(ctx, 0); err == nil {
			err = cerr
		}
		if err != nil {
			t.Errorf("remove the test objects below %s: %v", top, err)
		}
	})
	n := 0
	remotetest.RunWithOptions(t, func(t *testing.T) remote.Remote {
		n++
		c := cfg
		c.Prefix = fmt.Sprintf("%s/%03d", base, n)
		r, err := New(t.Context(), c)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return r
	}, remotetest.Options{
		MaxKeyLen: maxKeyLen - len(base) - len("/000/"),
		Symlinks:  true,
		PartSize:  testPart,
		Resumable: true,
	})
}
