package s3

import (
	"bytes"
	"errors"
	"testing"

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
