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
	"time"

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
	if _, _, err := r.putTombstone(ctx, "test", r.key("d/f.txt"), e.Version, e.Version); err != nil {
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
	if _, _, err := r.putTombstone(ctx, "test", r.key("f"), cur.Version, cur.Version); err != nil {
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

// intercept routes every request of r through fn, which sends it with send
// (or fails it without).
func intercept(r *Remote, fn func(params any, send func() error) error) {
	r.client = s3.New(r.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("intercept",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (out middleware.InitializeOutput, md middleware.Metadata, err error) {
					err = fn(in.Parameters, func() error {
						out, md, err = next.HandleInitialize(ctx, in)
						return err
					})
					return out, md, err
				}), middleware.Before)
		})
	})
}

// twoDevices returns two Remotes of one bucket whose tombstones come of age
// after life.
func twoDevices(t *testing.T, life time.Duration) (a, b *Remote) {
	t.Helper()
	a = newTestRemote(t, s3test.Start(t), "", func(c *Config) { c.tombstoneLife = life })
	b, err := New(t.Context(), a.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func putString(t *testing.T, r *Remote, p, body string, cond remote.Cond) (remote.Entry, error) {
	t.Helper()
	return r.Put(t.Context(), p, strings.NewReader(body), int64(len(body)), remote.Meta{}, cond)
}

func readString(t *testing.T, r *Remote, p string) string {
	t.Helper()
	rc, err := r.Get(t.Context(), p, 0, -1, "")
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// TestStaleTombstoneTakenOver: a delete that stops between its tombstone
// and the tombstone's delete (here every DELETE of the key fails, as for a
// device gone offline) holds other devices' writes back only while the
// tombstone is young. Once it is of age, another device's new file takes
// its place and is updated as usual; the deleter, back, does not delete
// it: its retry finds a version it does not know.
func TestStaleTombstoneTakenOver(t *testing.T) {
	ctx := t.Context()
	const life = 2 * time.Second
	a, b := twoDevices(t, life)
	const p = "d/f.txt"
	mine, err := putString(t, a, p, "A's", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	// A large file, which goes up in parts, the last request conditional.
	big := bytes.Repeat([]byte("x"), testPart+1)
	mineBig, err := a.Put(ctx, "big", bytes.NewReader(big), int64(len(big)), remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var offline atomic.Bool
	offline.Store(true)
	intercept(a, func(in any, send func() error) error {
		if _, ok := in.(*s3.DeleteObjectInput); ok && offline.Load() {
			return errors.New("offline")
		}
		return send()
	})
	if err := a.Delete(ctx, "big", remote.Cond{IfMatch: mineBig.Version}); err == nil || remote.IsPermanent(err) {
		t.Fatalf("a delete cut off before its last request: %v, want a transient error", err)
	}
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err == nil || remote.IsPermanent(err) {
		t.Fatalf("a delete cut off before its last request: %v, want a transient error", err)
	}
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err == nil || remote.IsPermanent(err) {
		t.Fatalf("its retry, still cut off: %v, want a transient error", err)
	}
	if _, err := b.Stat(ctx, p); !errors.Is(err, remote.ErrNotFound) {
		t.Fatalf("Stat while the tombstone stands: %v, want ErrNotFound", err)
	}
	if _, err := putString(t, b, p, "B's", remote.Cond{IfNoneMatch: true}); !errors.Is(err, remote.ErrPrecondition) {
		t.Fatalf("a new file over a young tombstone: %v, want ErrPrecondition", err)
	}

	time.Sleep(life + 1100*time.Millisecond) // Last-Modified has whole seconds
	if _, err := putString(t, b, p, "B's, old version", remote.Cond{IfMatch: mine.Version}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("a write over the deleted version: %v, want ErrPrecondition (it is gone)", err)
	}
	theirs, err := putString(t, b, p, "B's", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatalf("a new file over a tombstone of age: %v", err)
	}
	if theirs, err = putString(t, b, p, "B's, edited", remote.Cond{IfMatch: theirs.Version}); err != nil {
		t.Fatalf("an update of the file that took the tombstone's place: %v", err)
	}
	bigTheirs := bytes.Repeat([]byte("y"), len(big))
	if _, err := b.Put(ctx, "big", bytes.NewReader(bigTheirs), int64(len(big)), remote.Meta{}, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Errorf("a large new file over a tombstone of age: %v", err)
	}

	offline.Store(false) // A is back
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("the deleter's retry: %v, want ErrPrecondition (another version is there)", err)
	}
	if err := a.Delete(ctx, "big", remote.Cond{IfMatch: mineBig.Version}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("the deleter's retry of the large file: %v", err)
	}
	if e, err := b.Stat(ctx, "big"); err != nil || e.Size != int64(len(big)) {
		t.Errorf("after the deleter's retry, the large file: %+v, %v", e, err)
	}
	if got := readString(t, b, p); got != "B's, edited" {
		t.Errorf("after the deleter's retry, %s holds %q, want B's file", p, got)
	}
	if e, err := b.Stat(ctx, p); err != nil || e.Version != theirs.Version {
		t.Errorf("after the deleter's retry: %+v, %v; want version %s", e, err, theirs.Version)
	}
}

// TestTombstoneDeletedOnlyYoung: a delete sends the DELETE of its
// tombstone only while the tombstone is younger than half its life (here
// the deleter sleeps between the two, as a laptop does); no DELETE goes
// out until the tombstone is of age, when the retry replaces it with a
// fresh one and deletes that. A young tombstone over another version is
// someone else's delete, and a retry leaves it.
func TestTombstoneDeletedOnlyYoung(t *testing.T) {
	ctx := t.Context()
	const life = 4 * time.Second
	a, b := twoDevices(t, life)
	const p = "f.txt"
	mine, err := putString(t, a, p, "A's", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var sleep atomic.Bool
	sleep.Store(true)
	var deletes atomic.Int32
	intercept(a, func(in any, send func() error) error {
		err := send()
		switch in := in.(type) {
		case *s3.PutObjectInput:
			if in.Metadata[metaTombstone] != "" && sleep.Load() {
				time.Sleep(life / 2)
			}
		case *s3.DeleteObjectInput:
			if aws.ToString(in.Key) == a.key(p) {
				deletes.Add(1)
			}
		}
		return err
	})
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err == nil || remote.IsPermanent(err) {
		t.Fatalf("a delete that slept past half the tombstone's life: %v, want a transient error", err)
	}
	sleep.Store(false)
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err == nil || remote.IsPermanent(err) {
		t.Errorf("its retry before the tombstone is of age: %v, want a transient error", err)
	}
	if n := deletes.Load(); n != 0 {
		t.Errorf("%d DELETEs sent for a tombstone past half its life", n)
	}
	if o, err := a.headAny(ctx, "test", a.key(p)); err != nil || o.meta[metaTombstone] == "" {
		t.Fatalf("the tombstone is not there: %+v, %v", o, err)
	}
	if _, err := putString(t, b, p, "B's", remote.Cond{IfNoneMatch: true}); !errors.Is(err, remote.ErrPrecondition) {
		t.Errorf("a new file over a tombstone not of age: %v, want ErrPrecondition", err)
	}

	time.Sleep(life)
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err != nil {
		t.Fatalf("the retry once the tombstone is of age: %v", err)
	}
	if _, err := a.headAny(ctx, "test", a.key(p)); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the retry left something at the key: %v", err)
	}

	// Another device's delete, under way: not this retry's to remove.
	e, err := putString(t, b, p, "B's", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.putTombstone(ctx, "test", b.key(p), e.Version, e.Version); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: mine.Version}); err != nil {
		t.Errorf("a retry that meets another delete's tombstone: %v", err)
	}
	if o, err := a.headAny(ctx, "test", a.key(p)); err != nil || o.meta[metaTombstone] != trimETag(e.Version) {
		t.Errorf("a retry removed another delete's young tombstone: %+v, %v", o, err)
	}
}

// TestRmdirClearsStaleTombstone: a tombstone a stopped delete left in a
// directory keeps the directory from being removed only while it is young
// (a delete under way: a transient error); once it is of age, Rmdir clears
// it and removes the directory. A real file still makes it not empty.
func TestRmdirClearsStaleTombstone(t *testing.T) {
	ctx := t.Context()
	const life = 2 * time.Second
	a, b := twoDevices(t, life)
	if err := b.Mkdir(ctx, "d", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	mine, err := putString(t, a, "d/f", "A's", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	intercept(a, func(in any, send func() error) error {
		if _, ok := in.(*s3.DeleteObjectInput); ok {
			return errors.New("offline")
		}
		return send()
	})
	if err := a.Delete(ctx, "d/f", remote.Cond{IfMatch: mine.Version}); err == nil || remote.IsPermanent(err) {
		t.Fatalf("a delete cut off before its last request: %v, want a transient error", err)
	}
	if err := b.Rmdir(ctx, "d"); err == nil || remote.IsPermanent(err) {
		t.Fatalf("rmdir beside a young tombstone: %v, want a transient error", err)
	}
	time.Sleep(life + 1100*time.Millisecond) // Last-Modified has whole seconds
	if err := b.Rmdir(ctx, "d"); err != nil {
		t.Fatalf("rmdir beside a tombstone of age: %v", err)
	}
	if pg, err := b.listPage(ctx, "test", b.dirKey("d"), "", 10, nil); err != nil || len(pg.objects) != 0 {
		t.Errorf("after rmdir, d/ holds %+v, %v", pg.objects, err)
	}

	if _, err := putString(t, b, "e/g", "B's", remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Rmdir(ctx, "e"); !remote.IsPermanent(err) {
		t.Errorf("rmdir of a directory with a file: %v, want a permanent error", err)
	}
}
