package main

// Tree comparison for the end-to-end tests: walk two trees, compare what a
// user would notice, and explain differences from the journal.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// treeEntry is what the tree comparison looks at for one path.
type treeEntry struct {
	Type  string // "dir", "file", "symlink", or "other"
	Size  int64
	Hash  string // sha256 of a file's content
	Link  string // a symlink's target
	Perm  fs.FileMode
	Mtime int64 // seconds
}

func (e treeEntry) String() string {
	switch e.Type {
	case "file":
		return fmt.Sprintf("file size=%d sha256=%.12s perm=%o", e.Size, e.Hash, e.Perm)
	case "symlink":
		return "symlink -> " + e.Link
	}
	return fmt.Sprintf("%s perm=%o", e.Type, e.Perm)
}

// remoteScratch is the prefix of the remote folder's staging files
// (remote/local). Only a kill -9 during an upload may leave one behind.
const remoteScratch = ".ferry-tmp-"

func isScratch(rel string) bool { return strings.HasPrefix(filepath.Base(rel), remoteScratch) }

// readTree describes every path below root, keyed by slash-separated
// relative path.
func readTree(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	tree := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == ".ferry" {
			return filepath.SkipDir // a remote's change log and recycle bin, not the tree
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{Perm: fi.Mode().Perm(), Mtime: fi.ModTime().Unix()}
		switch {
		case fi.IsDir():
			e.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			if e.Hash, err = hashFile(p); err != nil {
				return err
			}
		default:
			e.Type = "other"
		}
		tree[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return tree
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// compareOpts chooses what compareTrees checks beyond paths, types,
// sizes, content hashes and symlink targets.
type compareOpts struct {
	perm       bool // permission bits of files and directories
	fileMtimes bool // modification times of regular files, to the second
	scratchOK  bool // ignore staging files left by a killed upload
}

// compareTrees fails the test for every difference between the trees at
// a and b, and reports how many entries a holds.
func compareTrees(t testing.TB, a, b string, o compareOpts) int {
	t.Helper()
	n, _ := compareTreesPaths(t, a, b, o)
	return n
}

// compareTreesPaths is compareTrees that also returns the paths that differ.
func compareTreesPaths(t testing.TB, a, b string, o compareOpts) (int, []string) {
	t.Helper()
	ta, tb := readTree(t, a), readTree(t, b)
	diffs, paths := treeDiff(ta, tb, o)
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("... and %d more differences", len(diffs)-20)
			break
		}
		t.Errorf("%s vs %s: %s", a, b, d)
	}
	return len(ta), paths
}

func treeDiff(ta, tb map[string]treeEntry, o compareOpts) (diffs, paths []string) {
	defer func() {
		for _, d := range diffs {
			paths = append(paths, d[:strings.Index(d, ": ")])
		}
	}()
	keys := map[string]bool{}
	for k := range ta {
		keys[k] = true
	}
	for k := range tb {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if o.scratchOK && isScratch(k) {
			continue
		}
		ea, oka := ta[k]
		eb, okb := tb[k]
		switch {
		case !oka:
			diffs = append(diffs, fmt.Sprintf("%s: only in the second tree (%v)", k, eb))
		case !okb:
			diffs = append(diffs, fmt.Sprintf("%s: only in the first tree (%v)", k, ea))
		case ea.Type != eb.Type || ea.Size != eb.Size || ea.Hash != eb.Hash || ea.Link != eb.Link:
			diffs = append(diffs, fmt.Sprintf("%s: %v vs %v", k, ea, eb))
		case o.perm && ea.Type != "symlink" && ea.Perm != eb.Perm:
			diffs = append(diffs, fmt.Sprintf("%s: mode %o vs %o", k, ea.Perm, eb.Perm))
		case o.fileMtimes && ea.Type == "file" && ea.Mtime != eb.Mtime:
			diffs = append(diffs, fmt.Sprintf("%s: mtime %s vs %s", k, time.Unix(ea.Mtime, 0).UTC(), time.Unix(eb.Mtime, 0).UTC()))
		}
	}
	return diffs, nil
}

// logJournal logs the journal entries of the mount at mp that mention
// any of paths (or, with no paths, the newest entries), to explain a
// difference between the mount and the remote.
func logJournal(t testing.TB, mp string, paths []string) {
	t.Helper()
	r := ferry(t, 30*time.Second, "journal", mp, "--json")
	if r.code != 0 {
		t.Logf("%s", r)
		return
	}
	var out []string
	for _, line := range strings.Split(r.stdout, "\n") {
		for _, p := range paths {
			if strings.Contains(line, `"`+p+`"`) || strings.Contains(line, `"`+p+`/`) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) > 200 {
		out = out[len(out)-200:]
	}
	t.Logf("journal entries for %q:\n%s", paths, strings.Join(out, "\n"))
}

// diffR runs diff -r (no dereferencing of symlinks to directories) and
// fails the test on any difference.
func diffR(t testing.TB, a, b string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "diff", "-r", "--no-dereference", "-x", remoteScratch+"*", a, b)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if len(out) > 4000 {
			out = append(out[:4000], "\n..."...)
		}
		t.Errorf("diff -r %s %s: %v\n%s", a, b, err, out)
	}
}
