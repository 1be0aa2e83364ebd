package journal

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// TestMoveUnrecordedUploadsItsOwnContent: a file never uploaded replaced
// p here and was renamed to q. The move takes the version it replaced
// away from p, but what arrives at q must be this file's content, not
// that version's.
func TestMoveUnrecordedUploadsItsOwnContent(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.start(t)
	meta := remote.Meta{ModTime: time.Unix(1e9, 0), Mode: 0o644, Hash: strings.Repeat("ab", 32)}
	e, err := r.rem.Put(ctx, "p", strings.NewReader("replaced"), 8, meta, remote.Cond{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	r.up.saveUploaded(1, &uploaded{Path: "p", Hash: e.Hash, Version: e.Version}) // the file it replaced
	r.src.set(2, "its own")
	a := &action{kind: actMove, node: 2, path: "p", to: "q"}
	if _, _, err := r.up.moveUnrecorded(ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := readRemote(t, r.root, "q"); got != "its own" {
		t.Errorf("q = %q, want this file's content", got)
	}
	if _, err := os.Stat(filepath.Join(r.root, "p")); !os.IsNotExist(err) {
		t.Errorf("p should be gone from the remote: %v", err)
	}
}
