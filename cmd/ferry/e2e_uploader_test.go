package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestE2EWriteDuringUpload: files that keep changing while they upload
// (write-back 0: every close starts an upload) converge without false
// conflicts or staging files left on the remote.
func TestE2EWriteDuringUpload(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "0s")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := filepath.Join(d.MP, fmt.Sprintf("grows%d", g))
			chunk := bytes.Repeat([]byte{byte(g)}, 64<<10)
			for i := range 150 {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				chunk[0] = byte(i)
				_, werr := f.Write(chunk)
				if err := f.Close(); werr != nil || err != nil {
					t.Errorf("append to %s: %v, close: %v", p, werr, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	m.flush()
	compareTrees(t, d.MP, d.Remote, compareOpts{perm: true, fileMtimes: true})
}

// TestE2ERenameOverThenRemove: a rename over an existing file deletes that
// file, also on the remote, however the uploader coalesces what follows.
// Each case starts from files already on the remote, then runs its steps
// inside one write-back window (1h: only flush uploads) and flushes.
func TestE2ERenameOverThenRemove(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		steps func(t *testing.T, mp string)
	}{
		{"create, rename over, unlink", func(t *testing.T, mp string) {
			writeFile(t, filepath.Join(mp, "new"), []byte("new content\n"))
			rename(t, filepath.Join(mp, "new"), filepath.Join(mp, "a"))
			remove(t, filepath.Join(mp, "a"))
		}},
		{"rename existing over, unlink", func(t *testing.T, mp string) {
			rename(t, filepath.Join(mp, "b"), filepath.Join(mp, "a"))
			remove(t, filepath.Join(mp, "a"))
		}},
		{"rename over and back", func(t *testing.T, mp string) {
			rename(t, filepath.Join(mp, "a"), filepath.Join(mp, "b"))
			rename(t, filepath.Join(mp, "b"), filepath.Join(mp, "a"))
		}},
		{"editor save, then replaced and removed", func(t *testing.T, mp string) {
			writeFile(t, filepath.Join(mp, ".a.swp"), []byte("saved by the editor\n"))
			rename(t, filepath.Join(mp, ".a.swp"), filepath.Join(mp, "a"))
			rename(t, filepath.Join(mp, "b"), filepath.Join(mp, "a"))
			remove(t, filepath.Join(mp, "a"))
		}},
		{"directory renamed over an empty one, removed", func(t *testing.T, mp string) {
			rename(t, filepath.Join(mp, "dir1"), filepath.Join(mp, "dir2"))
			if err := os.Remove(filepath.Join(mp, "dir2")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := newMountDirs(t)
			m := startMount(t, d, "--write-back", "1h")
			writeFile(t, filepath.Join(d.MP, "a"), []byte("a, uploaded\n"))
			writeFile(t, filepath.Join(d.MP, "b"), []byte("b, uploaded\n"))
			mkdirAll(t, filepath.Join(d.MP, "dir1"))
			mkdirAll(t, filepath.Join(d.MP, "dir2"))
			m.flush()
			c.steps(t, d.MP)
			m.flush()
			if _, diff := compareTreesPaths(t, d.MP, d.Remote, compareOpts{}); len(diff) > 0 {
				logJournal(t, d.MP, diff)
			}
		})
	}
}

// rename is rename(2): os.Rename refuses to replace a directory.
func rename(t testing.TB, from, to string) {
	t.Helper()
	if err := syscall.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func remove(t testing.TB, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}
