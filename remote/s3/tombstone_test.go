package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// TestDeleteTombstone: a conditional delete leaves neither the file nor a
// tombstone; a tombstone (left by a delete that crashed before its last
// request) reads as absent, and a retry of the delete removes it; a
// conditional write made while a tombstone stands fails, so that a version
// written during a delete is never deleted unseen.
func TestDeleteTombstone(t *testing.T) {
	ctx := t.Context()
	r := newTestRemote(t, s3test.Start(t), "")
	e, err := r.Put(ctx, "d/f.txt", bytes.NewReader([]byte("one")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, "d/f.txt", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatalf("conditional delete: %v", err)
	}
	if _, err := r.headAny(ctx, "test", r.key("d/f.txt")); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("after the delete, the key holds something: %v", err)
	}

	// A delete that stopped after its tombstone.
	e, err = r.Put(ctx, "d/f.txt", bytes.NewReader([]byte("two")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.putObject(ctx, "test", r.key("d/f.txt"), nil, map[string]string{metaTombstone: "1"}, remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Stat(ctx, "d/f.txt"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("Stat of a tombstone: %v, want ErrNotFound", err)
	}
	_, err = r.Put(ctx, "d/f.txt", bytes.NewReader([]byte("new")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("a new file put over a tombstone: %v, want ErrPrecondition until the delete ends", err)
	}
	if err := r.Delete(ctx, "d/f.txt", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatalf("retried delete: %v", err)
	}
	if _, err := r.headAny(ctx, "test", r.key("d/f.txt")); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the retried delete left the tombstone: %v", err)
	}
	if _, err := r.Put(ctx, "d/f.txt", bytes.NewReader([]byte("new")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Errorf("a new file after the delete: %v", err)
	}
}

// TestRenameDeletesOnlyItsVersion: the delete that ends a rename takes only
// the version it copied. MinIO ignores If-Match on DELETE, so without the
// tombstone a version written after the copy would go unseen. And a rename
// retried after it stopped between its tombstone and its delete completes,
// leaving the old name free.
func TestRenameDeletesOnlyItsVersion(t *testing.T) {
	ctx := t.Context()
	r := newTestRemote(t, s3test.Start(t), "")
	put := func(p, body string, cond remote.Cond) remote.Entry {
		t.Helper()
		e, err := r.Put(ctx, p, bytes.NewReader([]byte(body)), int64(len(body)), remote.Meta{}, cond)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	old := put("f", "copied", remote.Cond{IfNoneMatch: true})
	put("f", "written after the copy", remote.Cond{IfMatch: old.Version})
	if err := r.deleteVersion(ctx, "test", r.key("f"), old.Version, true); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("delete of a version since replaced: %v, want ErrPrecondition", err)
	}
	if e, err := r.Stat(ctx, "f"); err != nil || e.Size != int64(len("written after the copy")) {
		t.Fatalf("the newer version is gone: %+v, %v", e, err)
	}

	// A rename that stopped after its copy and its tombstone.
	cur, _ := r.Stat(ctx, "f")
	if _, err := r.Copy(ctx, "f", "g"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.putObject(ctx, "test", r.key("f"), nil, map[string]string{metaTombstone: "1"}, remote.Cond{IfMatch: cur.Version}); err != nil {
		t.Fatal(err)
	}
	if err := r.RenameIf(ctx, "f", "g", cur.Version, remote.Cond{}); err != nil {
		t.Fatalf("retried rename: %v", err)
	}
	if _, err := r.headAny(ctx, "test", r.key("f")); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the retried rename left its tombstone: %v", err)
	}
	put("f", "new", remote.Cond{IfNoneMatch: true})
}

// TestRenameDirKeepsAWriteThatCrossesIt: a file written below a directory
// after the directory's rename copied it, and before the rename deleted
// it, ends up in the renamed directory as the newer version. MinIO ignores
// If-Match on DELETE, so a plain delete there would lose the write.
func TestRenameDirKeepsAWriteThatCrossesIt(t *testing.T) {
	ctx := t.Context()
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "")
	for _, p := range []string{"d/f", "d/g"} {
		if _, err := r.Put(ctx, p, bytes.NewReader([]byte("old")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Another client writes d/f right after the first copy of d/f.
	other, key := srv.Client(), r.key("d/f")
	var written atomic.Bool // the copies run in parallel
	r.client = s3.New(r.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("crossing-write",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					if c, ok := in.Parameters.(*s3.CopyObjectInput); ok && err == nil && strings.HasSuffix(aws.ToString(c.CopySource), "/"+key) && written.CompareAndSwap(false, true) {
						_, perr := other.PutObject(ctx, &s3.PutObjectInput{Bucket: &r.bucket, Key: &key, Body: strings.NewReader("newer")})
						if perr != nil {
							t.Errorf("the crossing write: %v", perr)
						}
					}
					return out, md, err
				}), middleware.After)
		})
	})
	if err := r.Rename(ctx, "d", "e"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if !written.Load() {
		t.Fatal("the rename copied nothing the hook saw")
	}
	got := map[string]string{}
	for _, p := range []string{"d/f", "d/g", "e/f", "e/g"} {
		rc, err := r.Get(ctx, p, 0, -1, "")
		if errors.Is(err, remote.ErrNotFound) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[p] = string(b)
	}
	if want := map[string]string{"e/f": "newer", "e/g": "old"}; !maps.Equal(got, want) {
		t.Errorf("after the rename: %v, want %v", got, want)
	}
}
