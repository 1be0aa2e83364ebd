package s3

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// stallAfterTombstone makes r run during, once, right after r's first
// tombstone lands and before its DELETE: another device at work meanwhile.
func stallAfterTombstone(r *Remote, during func()) {
	var once atomic.Bool
	intercept(r, func(in any, send func() error) error {
		err := send()
		if pin, ok := in.(*s3.PutObjectInput); ok && pin.Metadata[metaTombstone] != "" && once.CompareAndSwap(false, true) {
			during()
		}
		return err
	})
}

// TestSameVersionDeletesKeepANewWrite: two devices delete one version at
// once. C's delete meets A's young tombstone and leaves it to A (a DELETE
// takes whatever is at the key: only the delete that put a tombstone may
// send one), so C's new file, written once the key is free, survives A's
// DELETE.
func TestSameVersionDeletesKeepANewWrite(t *testing.T) {
	ctx := t.Context()
	a, c := twoDevices(t, time.Minute)
	const p = "f.txt"
	v1, err := putString(t, a, p, "v1", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	stallAfterTombstone(a, func() {
		if err := c.Delete(ctx, p, remote.Cond{IfMatch: v1.Version}); err != nil {
			t.Errorf("C's delete of the version A is deleting: %v, want done", err)
		}
		if _, err := putString(t, c, p, "C's early file", remote.Cond{IfNoneMatch: true}); !errors.Is(err, remote.ErrPrecondition) {
			t.Errorf("C's new file while A's tombstone stands: %v, want ErrPrecondition", err)
		}
	})
	if err := a.Delete(ctx, p, remote.Cond{IfMatch: v1.Version}); err != nil {
		t.Fatalf("A's delete: %v", err)
	}
	if _, err := putString(t, c, p, "C's new file", remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatalf("C's new file after A's delete: %v", err)
	}
	if got := readString(t, c, p); got != "C's new file" {
		t.Errorf("%s holds %q, want C's new file", p, got)
	}
}

// TestRenameDirWaitsForAYoungTombstone: a directory rename that meets
// another device's young tombstone below it waits (a transient error)
// instead of deleting it, and goes through once that delete ended.
func TestRenameDirWaitsForAYoungTombstone(t *testing.T) {
	ctx := t.Context()
	a, b := twoDevices(t, time.Minute)
	v1, err := putString(t, a, "d/f", "v1", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putString(t, a, "d/g", "g", remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	stallAfterTombstone(a, func() {
		if err := b.Rename(ctx, "d", "e"); err == nil || remote.IsPermanent(err) {
			t.Errorf("B's rename beside A's young tombstone: %v, want a transient error", err)
		}
	})
	if err := a.Delete(ctx, "d/f", remote.Cond{IfMatch: v1.Version}); err != nil {
		t.Fatalf("A's delete: %v", err)
	}
	if err := b.Rename(ctx, "d", "e"); err != nil {
		t.Fatalf("B's rename after A's delete: %v", err)
	}
	if got := readString(t, b, "e/g"); got != "g" {
		t.Errorf("e/g holds %q after the rename", got)
	}
	if _, err := b.Stat(ctx, "e/f"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the deleted f came along: %v", err)
	}
}

// TestWalkAndGetSkipTombstones: a stopped delete's tombstone is no file to
// a rescan's Walk, and Get of it finds nothing.
func TestWalkAndGetSkipTombstones(t *testing.T) {
	ctx := t.Context()
	a, _ := twoDevices(t, time.Minute)
	e, err := putString(t, a, "f", "v1", remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	tomb, _, err := a.putTombstone(ctx, "test", a.key("f"), e.Version, e.Version)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Walk(ctx, func(x remote.Entry) error {
		if x.Path == "f" {
			t.Errorf("Walk reports the tombstone as a file: %+v", x)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "f", 0, -1, tomb); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("Get of the tombstone: %v, want ErrNotFound", err)
	}
}

// TestDeleteTombstoneAnswerLost: the answer to a delete's tombstone is
// lost, and the client sends the request again, which fails its If-Match:
// the first one put the tombstone. The delete still completes. It used to
// end with remote.ErrPrecondition and leave the tombstone, which reads as
// absent but held back every later write at the name.
func TestDeleteTombstoneAnswerLost(t *testing.T) {
	ctx := t.Context()
	r := newTestRemote(t, s3test.Start(t), "")
	e, err := r.Put(ctx, "f.txt", bytes.NewReader([]byte("one")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Bool
	r.client = s3.New(r.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("lose-tombstone-answer",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleFinalize(ctx, in)
					req, ok := in.Request.(*smithyhttp.Request)
					if ok && err == nil && req.Method == http.MethodPut && req.Header.Get("X-Amz-Meta-"+metaTombstone) != "" && lost.CompareAndSwap(false, true) {
						return out, md, &smithyhttp.RequestSendError{Err: errors.New("connection reset by peer")}
					}
					return out, md, err
				}), middleware.After)
		})
	})
	if err := r.Delete(ctx, "f.txt", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Errorf("delete: %v", err)
	}
	if !lost.Load() {
		t.Fatal("the delete put no tombstone the hook saw")
	}
	if _, err := r.headAny(ctx, "test", r.key("f.txt")); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the delete left the tombstone: %v", err)
	}
	if _, err := r.Put(ctx, "f.txt", bytes.NewReader([]byte("new")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Errorf("a new file after the delete: %v", err)
	}
}

// TestDeleteTombstoneCutShort: a delete whose tombstone landed while its
// caller saw the request fail for good (a cancelled context: a sibling of
// a directory rename failed) still knows the tombstone as its own, so its
// retry removes it at once rather than waiting a tombstone's life for it.
func TestDeleteTombstoneCutShort(t *testing.T) {
	ctx := t.Context()
	r := newTestRemote(t, s3test.Start(t), "")
	e, err := r.Put(ctx, "f.txt", bytes.NewReader([]byte("one")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	var cut atomic.Bool
	r.client = s3.New(r.client.Options(), func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("cut-tombstone-short",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleFinalize(ctx, in)
					req, ok := in.Request.(*smithyhttp.Request)
					if ok && err == nil && req.Method == http.MethodPut && req.Header.Get("X-Amz-Meta-"+metaTombstone) != "" && cut.CompareAndSwap(false, true) {
						return out, md, context.Canceled
					}
					return out, md, err
				}), middleware.After)
		})
	})
	if err := r.Delete(ctx, "f.txt", remote.Cond{IfMatch: e.Version}); err == nil {
		t.Fatal("the delete cut short succeeded")
	}
	if o, err := r.headAny(ctx, "test", r.key("f.txt")); err != nil || o.meta[metaTombstone] == "" {
		t.Fatalf("no tombstone at the key after the cut: %+v, %v", o, err)
	}
	if err := r.Delete(ctx, "f.txt", remote.Cond{IfMatch: e.Version}); err != nil {
		t.Errorf("the retried delete: %v", err)
	}
	if _, err := r.headAny(ctx, "test", r.key("f.txt")); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("the retried delete left the tombstone: %v", err)
	}
}

// TestTombstoneOfMineAfterRestart: a delete that stopped between its
// tombstone and the tombstone's delete (the process was killed) is tried
// again by a new process of the same device, which removes the tombstone
// at once: it says which device put it. Before, the young tombstone was
// taken for another device's delete under way and left, a 26-byte stray
// file for every other tool, until another write took its place. Another
// device's retry leaves it, as before.
func TestTombstoneOfMineAfterRestart(t *testing.T) {
	ctx := t.Context()
	srv := s3test.Start(t)
	for _, who := range []string{"dev.a1", "dev.b2"} {
		t.Run(who, func(t *testing.T) {
			before := newTestRemote(t, srv, "")
			before.SetDevice("dev.a1")
			e, err := before.Put(ctx, "f.txt", bytes.NewReader([]byte("one")), 3, remote.Meta{}, remote.Cond{IfNoneMatch: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := before.putTombstone(ctx, "test", before.key("f.txt"), e.Version, e.Version); err != nil {
				t.Fatal(err)
			}
			after := newTestRemote(t, srv, "", func(c *Config) { c.Bucket = before.bucket })
			after.SetDevice(who)
			if err := after.Delete(ctx, "f.txt", remote.Cond{IfMatch: e.Version}); err != nil {
				t.Errorf("the retried delete: %v", err)
			}
			_, err = after.headAny(ctx, "test", after.key("f.txt"))
			if gone := errors.Is(err, remote.ErrNotFound); gone != (who == "dev.a1") {
				t.Errorf("%s's retry: tombstone gone %v (%v)", who, gone, err)
			}
		})
	}
}
