package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestE2ES3PinUnpinEvict: ferry pin downloads content and keeps it;
// unpin frees it (the next read downloads again); past --cache-max-size,
// clean unpinned content is evicted and pinned content stays. GetObject
// requests, counted by the mount, tell when content was downloaded.
func TestE2ES3PinUnpinEvict(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	ctx := ctxFor(t, time.Minute)
	body := bytes.Repeat([]byte("x"), 64<<10)
	for _, k := range []string{"a/1", "a/2", "a/3", "b/keep"} {
		key := k
		if _, err := f.srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	m := f.mount(t, f.dirs(t), "--cache-max-size", "100KiB")
	gets := func() uint64 { return ferryStatus(t, m.MP).RemoteRequests["GetObject"] }
	read := func(p string) {
		t.Helper()
		if b, err := os.ReadFile(filepath.Join(m.MP, p)); err != nil || len(b) != len(body) {
			t.Fatalf("read %s: %d bytes, %v", p, len(b), err)
		}
	}

	mustFerry(t, time.Minute, "pin", filepath.Join(m.MP, "b"))
	if n := gets(); n != 1 {
		t.Fatalf("pin of b/ (one file): %d GetObject requests, want 1", n)
	}
	read("b/keep")
	if n := gets(); n != 1 {
		t.Fatalf("reading a pinned file downloaded it again (%d GetObject)", n)
	}

	// Reading a/ puts the cache past its limit: the evictor drops the
	// clean, unpinned content, and reading it again downloads it.
	for _, p := range []string{"a/1", "a/2", "a/3"} {
		read(p)
	}
	before := gets()
	if before != 4 {
		t.Fatalf("after reading a/: %d GetObject, want 4", before)
	}
	took := eventually(t, 60*time.Second, "content past --cache-max-size is never evicted", func() bool {
		read("a/1")
		return gets() > before
	})
	t.Logf("evicted within %s", took.Round(time.Second))
	read("b/keep")
	if n := gets(); n != before+1 {
		t.Errorf("the pinned b/keep was downloaded again (GetObject %d, want %d): evicted", n, before+1)
	}

	// unpin frees the content at once.
	mustFerry(t, time.Minute, "unpin", filepath.Join(m.MP, "b", "keep"))
	n := gets()
	read("b/keep")
	if got := gets(); got != n+1 {
		t.Errorf("after unpin, reading b/keep: GetObject %d, want %d (downloaded again)", got, n+1)
	}
	if r := ferry(t, time.Minute, "pin", filepath.Join(m.MP, "missing")); r.code == 0 {
		t.Errorf("pin of a missing path: exit 0")
	} else {
		t.Logf("pin of a missing path: %s", fmt.Sprint(r.stderr))
	}
	m.unmount()
}
