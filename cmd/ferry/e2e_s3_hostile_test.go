package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostileKeys are keys no filesystem path can be: "..", "." and empty
// segments, a leading "/", a name over 255 bytes, invalid UTF-8 and NUL.
// Each ends in a marker ("-hx") to look for on the disk afterwards.
var hostileKeys = []string{
	"a/../escape-hx1",
	"../up-hx2",
	"./dot-hx3",
	"b//c-hx4",
	"/lead-hx5",
	"long/" + strings.Repeat("L", 300) + "-hx7",
	"bad\xff-hx6",
	"nul\x00-hx8",
}

// hostileNormal are the normal files beside them.
var hostileNormal = map[string]string{
	"normal.txt":      "a normal file\n",
	"dir/normal2.txt": "another\n",
	"col/other.txt":   "beside the collisions\n",
}

// validPath reports whether key can be a path in the mount.
func validPath(key string) bool {
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 || strings.ContainsRune(seg, 0) || strings.ToValidUTF8(seg, "\uFFFD") != seg {
			return false
		}
	}
	return true
}

// skippedCovers reports whether skipped_keys accounts for key: the key
// itself, or a prefix of it ending in "/" (a directory no path can be).
// JSON cannot carry invalid UTF-8: `ferry status --json` shows U+FFFD for
// it, and so the key is compared that way.
func skippedCovers(skipped []string, key string) bool {
	key = strings.ToValidUTF8(key, "\uFFFD")
	for _, s := range skipped {
		if s == key || (strings.HasSuffix(s, "/") && strings.HasPrefix(key, s)) {
			return true
		}
	}
	return false
}

// waitImported waits until the first mount's import of the tree is done.
func waitImported(t *testing.T, mp string) {
	t.Helper()
	eventually(t, 60*time.Second, "the import of the bucket never finishes", func() bool { return ferryStatus(t, mp).ImportDone })
}

// checkHostile checks a mount m (on d) of a bucket whose listings hold
// hostileNormal and the keys bad, none of them valid paths: the normal
// files are readable, no file but those shows (other than the paths
// below ignore, which the caller checks), every bad key is in
// skipped_keys, nothing was made outside the mountpoint and the cache
// dir, a rescan changes nothing, and the mount keeps working. It returns
// the status.
func checkHostile(t *testing.T, f *s3Fixture, d mountDirs, m *ferryMount, bad []string, ignore ...string) statusReply {
	t.Helper()
	waitImported(t, m.MP)
	for p, want := range hostileNormal {
		if !contentIs(filepath.Join(m.MP, p), want)() {
			t.Errorf("%s is not readable with its content", p)
		}
	}
	ignored := func(p string) bool {
		return slices.ContainsFunc(ignore, func(i string) bool { return p == i || strings.HasPrefix(p, i+"/") })
	}
	tree := readTree(t, m.MP)
	for p, e := range tree {
		if _, ok := hostileNormal[p]; ok || e.Type == "dir" || ignored(p) {
			continue
		}
		t.Errorf("the mount shows %s (%v), which no valid key names", p, e)
	}
	for p := range tree {
		if strings.Contains(p, "-hx") && p != "lead-hx5" {
			t.Errorf("the mount shows %q, made from a hostile key", p)
		}
	}

	st := ferryStatus(t, m.MP)
	t.Logf("skipped_keys: %q", st.SkippedKeys)
	for _, k := range bad {
		if !skippedCovers(st.SkippedKeys, k) {
			t.Errorf("the key %q is not in skipped_keys", k)
		}
	}

	// Nothing was made outside the mountpoint and the cache dir.
	base := filepath.Dir(d.MP)
	ents, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != filepath.Base(d.MP) && e.Name() != filepath.Base(d.Cache) {
			t.Errorf("%s appeared beside the mountpoint and the cache dir", filepath.Join(base, e.Name()))
		}
	}
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{filepath.Dir(base), cwd, filepath.Dir(cwd), filepath.Dir(filepath.Dir(cwd)), "/", os.TempDir()} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), "-hx") {
				t.Errorf("%s appeared outside the mount", filepath.Join(dir, e.Name()))
			}
		}
	}
	if err := filepath.WalkDir(d.Cache, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(de.Name(), "-hx") {
			return errors.New(p + " made in the cache dir from a hostile key")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// A rescan sees the same keys and changes nothing; the mount keeps
	// working, and leaves the keys it skips alone.
	mustFerry(t, 60*time.Second, "sync", "--rescan", m.MP)
	if again := readTree(t, m.MP); !equalTrees(tree, again) {
		t.Errorf("a rescan changed the mount:\nbefore %v\nafter  %v", tree, again)
	}
	writeFile(t, filepath.Join(m.MP, "dir/after.txt"), []byte("after\n"))
	m.flush()
	if !f.objectIs(t, "dir/after.txt", "after\n") {
		t.Errorf("a file written in the mount did not reach the bucket")
	}
	st = ferryStatus(t, m.MP)
	if st.PendingOps != 0 || st.FailedOps != 0 {
		t.Errorf("status %+v, want nothing pending or failed", st)
	}
	return st
}

func equalTrees(a, b map[string]treeEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for p, e := range a {
		if b[p] != e {
			return false
		}
	}
	return true
}

// TestE2ES3HostileKeys: a bucket holds, beside normal files, the
// hostileKeys MinIO accepts, and keys that collide: a file and a
// directory marker of the same name, a file and a symlink of the same
// name. The first mount imports it: the normal files are there and
// readable, of each colliding pair one shows and the other is skipped,
// nothing is made outside the mountpoint and the cache dir, and `ferry
// status --json` lists the keys it left out in skipped_keys. Keys MinIO
// refuses are left out here (TestE2ES3HostileKeysListed has them).
func TestE2ES3HostileKeys(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	f.putObjects(t, hostileNormal, 4)
	ctx := ctxFor(t, time.Minute)
	for _, k := range hostileKeys {
		if err := f.tryPutObject(ctx, k, "hostile"); err != nil {
			t.Logf("MinIO refuses the key %q; not tested here: %.200v", k, err)
		}
	}
	// Colliding pairs. (MinIO cannot hold "col/x" beside "col/x/y": the
	// second put replaces the first.)
	collisions := map[string]string{
		"col/x":             "file x",
		"col/x/":            "",
		"col/l":             "file l",
		"col/l.rclonelink":  "other.txt",
		"col/ok.rclonelink": "other.txt",
	}
	f.putObjects(t, collisions, 4)
	keys := f.keys(t, "")
	t.Logf("the bucket holds %q", keys)
	var bad []string
	for _, k := range keys {
		if _, ok := hostileNormal[k]; !ok && !validPath(strings.TrimSuffix(k, "/")) {
			bad = append(bad, k)
		}
	}

	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms", "--rescan-interval", "0")
	st := checkHostile(t, f, d, m, bad, "col/x", "col/l", "col/ok", "lead-hx5")

	// What MinIO made of "/lead-hx5", if it kept it: a valid key shows.
	if slices.Contains(keys, "lead-hx5") && !contentIs(filepath.Join(m.MP, "lead-hx5"), "hostile")() {
		t.Errorf("the bucket holds lead-hx5 (MinIO's \"/lead-hx5\"), but the mount does not show it")
	}
	// The symlink without a twin shows as a symlink.
	if got, err := os.Readlink(filepath.Join(m.MP, "col/ok")); err != nil || got != "other.txt" {
		t.Errorf("col/ok: readlink %q, %v; want a symlink to other.txt", got, err)
	}
	// Of each pair, one shows and the other is skipped.
	fi, err := os.Lstat(filepath.Join(m.MP, "col/x"))
	switch {
	case err != nil:
		t.Errorf("col/x (a file and a directory marker) does not show: %v", err)
	case fi.IsDir():
		if !skippedCovers(st.SkippedKeys, "col/x") {
			t.Errorf("col/x shows as a directory, but the file col/x is not in skipped_keys")
		}
	default:
		if !contentIs(filepath.Join(m.MP, "col/x"), "file x")() || !skippedCovers(st.SkippedKeys, "col/x/") {
			t.Errorf("col/x shows as a file: want its content, and the marker col/x/ in skipped_keys")
		}
	}
	fi, err = os.Lstat(filepath.Join(m.MP, "col/l"))
	switch {
	case err != nil:
		t.Errorf("col/l (a file and a symlink) does not show: %v", err)
	case fi.Mode()&os.ModeSymlink != 0:
		if !skippedCovers(st.SkippedKeys, "col/l") {
			t.Errorf("col/l shows as a symlink, but the file col/l is not in skipped_keys")
		}
	default:
		if !contentIs(filepath.Join(m.MP, "col/l"), "file l")() || !skippedCovers(st.SkippedKeys, "col/l.rclonelink") {
			t.Errorf("col/l shows as a file: want its content, and col/l.rclonelink in skipped_keys")
		}
	}
	for k, v := range collisions {
		if !f.objectIs(t, k, v) {
			t.Errorf("the object %q changed: ferry must leave what it skips alone", k)
		}
	}
	m.unmount()
}

// TestE2ES3HostileKeysListed: every one of hostileKeys, as a listing may
// hold them (a proxy adds them to MinIO's answers: MinIO refuses to store
// most): none shows, each is in skipped_keys, the normal files are there,
// and nothing is made outside the mountpoint and the cache dir.
func TestE2ES3HostileKeysListed(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	f.putObjects(t, hostileNormal, 4)
	proxy := newListInjector(t, f.srv.Endpoint, hostileKeys)
	d := f.dirs(t)
	m := startMountEnv(t, d, f.env(), "--s3-endpoint", proxy.URL, "--write-back", "100ms", "--rescan-interval", "0")
	checkHostile(t, f, d, m, hostileKeys)
	m.unmount()
}
