package remotetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// trashDays returns the trash directories a conditional delete made
// between before and now may have used.
func trashDays(before time.Time) []string {
	return []string{
		"trash/" + before.UTC().Format("2006-01-02") + "/",
		"trash/" + time.Now().UTC().Format("2006-01-02") + "/",
	}
}

// trashed returns the area name under which p was trashed since before,
// failing the test unless there is exactly one.
func trashed(t *testing.T, a remote.Area, p string, before time.Time) remote.AreaObject {
	t.Helper()
	var found []remote.AreaObject
	for _, o := range listArea(t, a, "trash/", "", 0) {
		for _, day := range slices.Compact(trashDays(before)) {
			if o.Name == day+p {
				found = append(found, o)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("ListArea(%q) holds %d objects for %q, want 1: %q", "trash/", len(found), p, areaNames(listArea(t, a, "trash/", "", 0)))
	}
	return found[0]
}

// deleteIf deletes p on the condition that it is still the version of e.
func deleteIf(t *testing.T, r remote.Remote, e remote.Entry) {
	t.Helper()
	if err := r.Delete(t.Context(), e.Path, remote.Cond{IfMatch: e.Version}); err != nil {
		t.Fatalf("Delete(%q) IfMatch its version: %v", e.Path, err)
	}
	wantMissing(t, r, e.Path)
}

func testTrash(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	ctx := t.Context()
	const p, content = "tr/dir/file", "second version"
	before := time.Now()

	// A conditional delete keeps the file in the trash; a second one the
	// same day replaces it there.
	deleteIf(t, r, put(t, r, p, "first version"))
	o := trashed(t, a, p, before)
	wantAreaContent(t, a, o.Name, []byte("first version"))
	deleteIf(t, r, put(t, r, p, content))
	o = trashed(t, a, p, before)
	if o.Size != int64(len(content)) {
		t.Errorf("trashed %+v, want size %d", o, len(content))
	}
	wantAreaContent(t, a, o.Name, []byte(content))
	wantNames(t, "tr", list(t, r, "tr"), "tr/dir/")

	// An unconditional delete keeps nothing.
	put(t, r, "tr/plain", "plain")
	if err := r.Delete(ctx, "tr/plain", remote.Cond{}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, x := range listArea(t, a, "trash/", "", 0) {
		if strings.HasSuffix(x.Name, "/tr/plain") {
			t.Errorf("an unconditional delete left %q in the trash", x.Name)
		}
	}
}

func testRestore(t *testing.T, r remote.Remote, _ Options) {
	a := r.(remote.Area)
	ctx := t.Context()
	const p, content = "tr/dir/file", "trashed content"
	before := time.Now()
	deleteIf(t, r, put(t, r, p, content))
	o := trashed(t, a, p, before)

	// RestoreArea never replaces a file or a directory.
	put(t, r, p, "in the way")
	put(t, r, "tr/occupied/f", "f")
	for _, to := range []string{p, "tr/occupied"} {
		_, err := a.RestoreArea(ctx, o.Name, to)
		wantErrIs(t, err, remote.ErrPrecondition, "RestoreArea onto "+to)
	}
	wantContent(t, r, p, "in the way")
	wantContent(t, r, "tr/occupied/f", "f")
	wantAreaContent(t, a, o.Name, []byte(content))

	// It makes the parents, keeps the content and metadata, and empties
	// the trash.
	const to = "tr/new/deep/restored"
	e, err := a.RestoreArea(ctx, o.Name, to)
	if err != nil {
		t.Fatalf("RestoreArea(%q, %q): %v", o.Name, to, err)
	}
	if e.Path != to || e.Dir || e.Size != int64(len(content)) || e.Version == "" {
		t.Errorf("RestoreArea = %+v, want a file of %d bytes at %q with a version", e, len(content), to)
	}
	wantContent(t, r, to, content)
	s := stat(t, r, to)
	wantMeta(t, "Stat after RestoreArea", s, meta(content))
	if s.Version != e.Version {
		t.Errorf("Stat(%q).Version = %q, RestoreArea returned %q", to, s.Version, e.Version)
	}
	_, err = a.GetArea(ctx, o.Name)
	wantErrIs(t, err, remote.ErrNotFound, "GetArea of a restored name")
	if got := listArea(t, a, "trash/", "", 0); len(got) != 0 {
		t.Errorf("the trash holds %q after the restore", areaNames(got))
	}
	_, err = a.RestoreArea(ctx, o.Name, "tr/again")
	wantErrIs(t, err, remote.ErrNotFound, "RestoreArea of a restored name")
	wantMissing(t, r, "tr/again")
	_, err = a.RestoreArea(ctx, o.Name, ".ferry/x")
	wantErrIs(t, err, remote.ErrPermanent, "RestoreArea into the area")
}

func testTrashSymlink(t *testing.T, r remote.Remote, opts Options) {
	if !opts.Symlinks {
		t.Skip("backend does not store symlinks (Options.Symlinks)")
	}
	a := r.(remote.Area)
	ctx := t.Context()
	const p, target = "tl/link", "../some/where"
	before := time.Now()
	e, err := r.Put(ctx, p, strings.NewReader(""), 0, remote.Meta{ModTime: mtime, Link: target}, remote.Cond{})
	if err != nil {
		t.Fatalf("Put symlink: %v", err)
	}
	deleteIf(t, r, e)
	o := trashed(t, a, p, before)
	e, err = a.RestoreArea(ctx, o.Name, "tl/back")
	if err != nil {
		t.Fatalf("RestoreArea of a symlink: %v", err)
	}
	if s := stat(t, r, "tl/back"); s.Link != target || e.Link != target || s.Dir {
		t.Errorf("restored symlink: RestoreArea = %+v, Stat = %+v; want a link to %q", e, s, target)
	}
	if s := stat(t, r, "tl/back"); !sameTime(s.ModTime, mtime) {
		t.Errorf("restored symlink has mtime %v, want %v", s.ModTime, mtime)
	}
}
