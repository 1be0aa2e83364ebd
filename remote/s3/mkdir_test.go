package s3

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// TestMkdirInFreshDir: a directory made inside one this Remote just made
// goes up without the check for a file in its way (one request, not two);
// elsewhere the check stays, and a file in the way is refused.
func TestMkdirInFreshDir(t *testing.T) {
	ctx := t.Context()
	r := newTestRemote(t, s3test.Start(t), "")
	heads := func() uint64 { return r.Requests()["HeadObject"] }
	if _, err := r.Put(ctx, "f", bytes.NewReader(nil), 0, remote.Meta{}, remote.Cond{IfNoneMatch: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Mkdir(ctx, "f", remote.Meta{}); !errors.Is(err, remote.ErrPermanent) {
		t.Fatalf("Mkdir over a file: %v, want ErrPermanent", err)
	}
	before := heads()
	if err := r.Mkdir(ctx, "top", remote.Meta{}); err != nil {
		t.Fatal(err)
	}
	if heads() != before+1 {
		t.Errorf("Mkdir of a directory in an old one sent %d HEADs, want 1", heads()-before)
	}
	before = heads()
	for _, p := range []string{"top/a", "top/a/b"} {
		if err := r.Mkdir(ctx, p, remote.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := heads() - before; n != 0 {
		t.Errorf("Mkdir inside directories just made sent %d HEADs, want none", n)
	}
}
