package main

import (
	"fmt"
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

// toolsScript works in a mount the way everyday tools do: in-place edits
// (sed -i, perl -i, vim), symlinks replaced, install with a mode, a git
// repository, directories renamed, moved and renamed over an empty one,
// truncation, chmod and touch.
const toolsScript = `set -e
mkdir -p proj/src proj/docs proj/empty
printf 'hello\n' > proj/src/a.txt
cp -a proj/src/a.txt proj/src/b.txt
sed -i 's/hello/hi/' proj/src/a.txt
perl -pi -e 's/hello/howdy/' proj/src/b.txt
vim -Es -u NONE -c 's/hi/HI/' -c wq proj/src/a.txt
ln -s src/a.txt proj/link
ln -sf src/b.txt proj/link
install -m 0600 proj/src/a.txt proj/docs/secret
mkdir proj/old && echo x > proj/old/f && mv proj/old proj/new
mkdir proj/dst && mv proj/new proj/dst/
mkdir proj/target && mv -T proj/dst/new proj/target
truncate -s 0 proj/src/b.txt && echo again >> proj/src/b.txt
chmod 0700 proj/docs
touch -d 2001-02-03T04:05:06 proj/src/a.txt
git init -q proj/repo
cd proj/repo
echo one > readme
git add readme
git -c user.name=t -c user.email=t@example.com commit -qm one
echo two >> readme
git -c user.name=t -c user.email=t@example.com commit -qam two
git -c user.name=t -c user.email=t@example.com gc -q
`

// entryTree describes every entry below root: kind, permissions, and a
// file's content and mtime or a symlink's target.
func entryTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	// An entry removed while the walk runs (a remote change arriving) is
	// left out: the caller compares trees until they settle.
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %o", fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				return err
			}
			out[rel] = "link " + l
		default:
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("file %o %d %q", fi.Mode().Perm(), fi.ModTime().Unix(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// TestE2ES3EverydayTools runs toolsScript in one device's mount and checks
// that the other device shows the same tree (kinds, modes, contents,
// mtimes, symlinks). The other device then copies the tree, whose content
// it never downloaded, and asks git about the copy; the first device shows
// the copy. The bucket holds the tree and nothing else: no temp file of an
// editor or of sed, no replaced object.
func TestE2ES3EverydayTools(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"git", "vim", "perl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	f := newS3(t)
	flags := []string{"--write-back", "100ms", "--poll-interval", "1s", "--rescan-interval", "0", "--log-level", "debug"}
	a := f.mount(t, f.dirs(t), append(flags, "--device-name", "devA")...)
	b := f.mount(t, f.dirs(t), append(flags, "--device-name", "devB")...)
	run := func(m *ferryMount, script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = m.MP
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("script: %v\n%s", err, out)
		}
		m.flush()
		return string(out)
	}
	run(a, toolsScript)
	sameTree(t, a, b)
	out := run(b, "set -e; cp -a proj copy; git -C copy/repo status --porcelain; git -C copy/repo log --format=%s")
	if out != "two\none\n" {
		t.Errorf("git in the copy says %q, want the two commits and nothing changed", out)
	}
	want := sameTree(t, b, a)

	keys := f.keys(t, "")
	for p, kind := range want {
		k := p
		if strings.HasPrefix(kind, "link") {
			k += ".rclonelink"
		}
		if !strings.HasPrefix(kind, "dir") && !slices.Contains(keys, k) {
			t.Errorf("the bucket lacks %s", k)
		}
	}
	for _, k := range keys {
		if strings.HasPrefix(k, ".ferry/") {
			continue
		}
		p := strings.TrimSuffix(strings.TrimSuffix(k, "/"), ".rclonelink")
		kind, ok := want[p]
		switch {
		case !ok:
			t.Errorf("the bucket holds %s, which is not in the tree", k)
		case strings.HasSuffix(k, "/") && !strings.HasPrefix(kind, "dir"),
			strings.HasSuffix(k, ".rclonelink") && !strings.HasPrefix(kind, "link"),
			!strings.HasSuffix(k, "/") && !strings.HasSuffix(k, ".rclonelink") && !strings.HasPrefix(kind, "file"):
			t.Errorf("the bucket holds %s for %s", k, kind)
		}
	}
}

// sameTree waits until mount to shows the tree that mount from shows, and
// fails t, listing the differences, if it does not within 30 s. It
// returns the tree.
func sameTree(t *testing.T, from, to *ferryMount) map[string]string {
	t.Helper()
	want := entryTree(t, from.MP)
	var got map[string]string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got = entryTree(t, to.MP); fmt.Sprint(got) == fmt.Sprint(want) {
			return want
		}
	}
	t.Errorf("%s does not show the tree of %s", to.MP, from.MP)
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if got[p] != want[p] {
			t.Errorf("%s: %q, then %q", p, want[p], got[p])
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: only in the second: %s", p, got[p])
		}
	}
	return want
}
