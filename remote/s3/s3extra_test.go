package s3

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

func bytesOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/4093) ^ seed
	}
	return b
}

// trashKey is where a conditional delete today keeps p.
func trashKey(r *Remote, p string) string {
	return r.Prefix() + ".ferry/trash/" + time.Now().UTC().Format("2006-01-02") + "/" + p
}

// getObject reads key behind the backend's back, or returns nil if missing.
func getObject(t *testing.T, srv *s3test.Server, bucket, key string) ([]byte, map[string]string) {
	t.Helper()
	out, err := srv.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if errors.Is(fail(t.Context(), "get", key, err), remote.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, out.Metadata
}

// TestCopyInParts runs the paths objects above 5 GiB take (UploadPartCopy
// for Copy, Rename, SetMeta, the trash copy and RestoreArea) with a 5 MiB
// cutoff.
func TestCopyInParts(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "p", func(c *Config) { c.CopyCutoff = testPart })
	ctx := t.Context()
	data := bytesOf(2*testPart+testPart/2, 1)
	m := remote.Meta{ModTime: time.Unix(1600000000, 5), Mode: 0o640, Hash: strings.Repeat("c", 64)}
	if _, err := r.Put(ctx, "a/orig", bytes.NewReader(data), int64(len(data)), m, remote.Cond{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	check := func(p string, m remote.Meta) remote.Entry {
		t.Helper()
		if got := readAll(t, r, p); !bytes.Equal(got, data) {
			t.Fatalf("%q: content differs", p)
		}
		e, err := r.Stat(ctx, p)
		if err != nil || !e.ModTime.Equal(m.ModTime) || e.Mode != m.Mode || e.Hash != m.Hash {
			t.Fatalf("Stat(%q) = %+v, %v; want the metadata %+v", p, e, err, m)
		}
		return e
	}
	e, err := r.Copy(ctx, "a/orig", "a/copy")
	if err != nil {
		t.Fatalf("Copy: %v", err)
	}
	if !strings.HasSuffix(trimETag(e.Version), "-3") {
		t.Errorf("Copy made version %q, want the ETag of a 3-part upload", e.Version)
	}
	check("a/copy", m)

	m.ModTime, m.Mode = time.Unix(1700000000, 0), 0o600
	if err := r.SetMeta(ctx, "a/copy", m); err != nil {
		t.Fatalf("SetMeta: %v", err)
	}
	check("a/copy", m)
	if err := r.Rename(ctx, "a/copy", "b/moved"); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	cur := check("b/moved", m)

	err = r.Delete(ctx, "b/moved", remote.Cond{IfMatch: `"stale"`})
	if !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("Delete of a stale version: %v, want ErrPrecondition", err)
	}
	check("b/moved", m)
	if err := r.Delete(ctx, "b/moved", remote.Cond{IfMatch: cur.Version}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, md := getObject(t, srv, r.Bucket(), trashKey(r, "b/moved")); !bytes.Equal(got, data) || md[metaHash] != m.Hash {
		t.Errorf("the trash holds %d bytes with metadata %v, want the deleted file", len(got), md)
	}
	if e, err := r.Stat(ctx, "b"); err != nil || !e.Dir {
		t.Errorf("Stat(b) after deleting its only file = %+v, %v; want the directory kept", e, err)
	}

	name := strings.TrimPrefix(trashKey(r, "b/moved"), r.areaBase())
	if e, err = r.RestoreArea(ctx, name, "c/back"); err != nil {
		t.Fatalf("RestoreArea: %v", err)
	}
	if s := check("c/back", m); s.Version != e.Version || !strings.HasSuffix(trimETag(e.Version), "-3") {
		t.Errorf("RestoreArea made version %q, Stat says %q; want the ETag of a 3-part upload", e.Version, s.Version)
	}
	if got, _ := getObject(t, srv, r.Bucket(), trashKey(r, "b/moved")); got != nil {
		t.Errorf("the trash still holds %d bytes after the restore", len(got))
	}
}

func TestTrash(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "")
	ctx := t.Context()
	m := remote.Meta{ModTime: time.Unix(1600000000, 0)}
	e, err := r.Put(ctx, "d/x", strings.NewReader("keep me"), 7, m, remote.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "d/x", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if got, md := getObject(t, srv, r.Bucket(), trashKey(r, "d/x")); string(got) != "keep me" || md[metaMtime] != "1600000000" {
		t.Errorf("the trash holds %q with metadata %v", got, md)
	}
	if _, err := r.Put(ctx, "d/y", strings.NewReader("y"), 1, m, remote.Cond{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "d/y", remote.Cond{IfMatch: e.Version}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("Delete of another version: %v, want ErrPrecondition", err)
	}
	if got, _ := getObject(t, srv, r.Bucket(), trashKey(r, "d/y")); got != nil {
		t.Errorf("a refused delete left %q in the trash", got)
	}
	err = r.List(ctx, "", func(e remote.Entry) error {
		if e.Path != "d" {
			t.Errorf("List shows %q", e.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUnknownSizeAndAbort puts content of unknown size, and checks that a
// failed multipart put leaves no upload behind.
func TestUnknownSizeAndAbort(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "")
	ctx := t.Context()
	for _, n := range []int{0, 1000, testPart, 2*testPart + 17} {
		data := bytesOf(n, 2)
		e, err := r.Put(ctx, "u", io.MultiReader(bytes.NewReader(data)), -1, remote.Meta{}, remote.Cond{})
		if err != nil || e.Size != int64(n) {
			t.Fatalf("Put of %d bytes of unknown size = %+v, %v", n, e, err)
		}
		if got := readAll(t, r, "u"); !bytes.Equal(got, data) {
			t.Fatalf("Put of %d bytes of unknown size stored %d other bytes", n, len(got))
		}
	}
	boom := errors.New("boom")
	src := io.MultiReader(bytes.NewReader(bytesOf(2*testPart, 3)), &errReader{boom})
	if _, err := r.Put(ctx, "u", src, 3*testPart, remote.Meta{}, remote.Cond{}); !errors.Is(err, boom) || remote.IsPermanent(err) {
		t.Fatalf("Put with a failing reader: %v, want transient, wrapping %v", err, boom)
	}
	out, err := srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(r.Bucket())})
	if err != nil || len(out.Uploads) != 0 {
		t.Errorf("after a failed put: %d uploads in progress (%v), want none", len(out.Uploads), err)
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// TestOutage stops the server under the backend: calls fail as transient
// errors, and work again once it is back.
func TestOutage(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "")
	ctx := t.Context()
	if _, err := r.Put(ctx, "f", strings.NewReader("before"), 6, remote.Meta{}, remote.Cond{}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if _, err := r.Stat(ctx, "f"); err == nil || remote.IsPermanent(err) {
		t.Errorf("Stat during an outage: %v, want a transient error", err)
	}
	if _, err := r.Put(ctx, "g", strings.NewReader("x"), 1, remote.Meta{}, remote.Cond{}); err == nil || remote.IsPermanent(err) {
		t.Errorf("Put during an outage: %v, want a transient error", err)
	}
	srv.Restart(t)
	if got := readAll(t, r, "f"); string(got) != "before" {
		t.Errorf("after the outage f holds %q", got)
	}
}
