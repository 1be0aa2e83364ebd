package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wantOneLineError checks that a failed command said why in exactly one
// line on stderr starting with "ferry: ", and exited non-zero by itself.
func wantOneLineError(t testing.TB, r cliResult) {
	t.Helper()
	if r.code == -1 {
		t.Fatalf("did not exit by itself: %s", r)
	}
	if r.code == 0 {
		t.Fatalf("exit 0, want an error: %s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "ferry: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr must be one line starting with \"ferry: \": %s", r)
	}
}

// noMountLeft fails if anything is mounted at mp, and unmounts it.
func noMountLeft(t testing.TB, mp string, want int) {
	t.Helper()
	if n := len(mountIDs(t, mp)); n != want {
		t.Errorf("%d mounts at %s, want %d", n, mp, want)
		for range n - want {
			exec.Command("fusermount3", "-u", "-z", mp).Run()
		}
	}
}

// TestE2EBadInput: every mistake gets one clear line, a non-zero exit, and
// leaves nothing mounted.
func TestE2EBadInput(t *testing.T) {
	t.Parallel()
	type setup struct {
		args   []string
		mp     string // checked for leftover mounts
		mounts int    // mounts expected at mp afterwards
		want   string // part of the message
	}
	cases := []struct {
		name  string
		setup func(t *testing.T) setup
	}{
		{"missing remote folder", func(t *testing.T) setup {
			d := newMountDirs(t)
			nope := filepath.Join(d.Remote, "nope")
			return setup{args: []string{"mount", nope, d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "does not exist"}
		}},
		{"remote is a file", func(t *testing.T) setup {
			d := newMountDirs(t)
			f := filepath.Join(d.Remote, "file")
			writeFile(t, f, []byte("x"))
			return setup{args: []string{"mount", f, d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "not a folder"}
		}},
		{"mountpoint missing", func(t *testing.T) setup {
			d := newMountDirs(t)
			mp := filepath.Join(d.MP, "nope")
			return setup{args: []string{"mount", d.Remote, mp, "--cache-dir", d.Cache}, mp: mp, want: "does not exist"}
		}},
		{"mountpoint is a file", func(t *testing.T) setup {
			d := newMountDirs(t)
			mp := filepath.Join(d.Remote, "..", "file")
			writeFile(t, mp, nil)
			return setup{args: []string{"mount", d.Remote, mp, "--cache-dir", d.Cache}, mp: mp, want: "not a directory"}
		}},
		{"mountpoint not empty", func(t *testing.T) setup {
			d := newMountDirs(t)
			writeFile(t, filepath.Join(d.MP, "x"), nil)
			return setup{args: []string{"mount", d.Remote, d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "not empty"}
		}},
		{"mountpoint already mounted", func(t *testing.T) setup {
			d := newMountDirs(t)
			startMount(t, d, "--write-back", "100ms")
			other := newMountDirs(t)
			return setup{args: []string{"mount", other.Remote, d.MP, "--cache-dir", other.Cache}, mp: d.MP, mounts: 1, want: "already mounted"}
		}},
		{"cache dir in use", func(t *testing.T) setup {
			d := newMountDirs(t)
			m := startMount(t, d, "--write-back", "100ms")
			t.Cleanup(func() {
				// The first mount must not have lost its control socket.
				if r := ferry(t, 30*time.Second, "status", m.MP); r.code != 0 {
					t.Errorf("the first mount after a second one tried its cache dir: %s", r)
				}
			})
			other := newMountDirs(t)
			return setup{args: []string{"mount", other.Remote, other.MP, "--cache-dir", d.Cache}, mp: other.MP, want: "in use"}
		}},
		{"remote is the mountpoint", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"mount", d.MP, d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "inside"}
		}},
		{"remote inside mountpoint", func(t *testing.T) setup {
			d := newMountDirs(t)
			r := filepath.Join(d.MP, "remote")
			mkdirAll(t, r)
			return setup{args: []string{"mount", r, d.MP, "--cache-dir", d.Cache}, mp: d.MP}
		}},
		{"mountpoint inside remote", func(t *testing.T) setup {
			d := newMountDirs(t)
			mp := filepath.Join(d.Remote, "mnt")
			mkdirAll(t, mp)
			return setup{args: []string{"mount", d.Remote, mp, "--cache-dir", d.Cache}, mp: mp, want: "inside"}
		}},
		{"unknown flag", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"mount", "--bogus", d.Remote, d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "bogus"}
		}},
		{"unsupported URL scheme", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"mount", "ftp://x", d.MP, "--cache-dir", d.Cache}, mp: d.MP, want: "ftp"}
		}},
		{"bad log level", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"mount", d.Remote, d.MP, "--cache-dir", d.Cache, "--log-level", "loud"}, mp: d.MP, want: "log-level"}
		}},
		{"missing arguments", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"mount", d.Remote}, mp: d.MP}
		}},
		{"flush of a plain directory", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"flush", d.MP}, mp: d.MP, want: "not a ferry mount"}
		}},
		{"status of a plain directory", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"status", d.MP}, mp: d.MP, want: "not a ferry mount"}
		}},
		{"journal of a plain directory", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"journal", d.MP}, mp: d.MP, want: "not a ferry mount"}
		}},
		{"unmount of a plain directory", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"unmount", d.MP}, mp: d.MP, want: "not mounted"}
		}},
		{"flush of a missing path", func(t *testing.T) setup {
			d := newMountDirs(t)
			return setup{args: []string{"flush", filepath.Join(d.MP, "nope")}, mp: d.MP}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := c.setup(t)
			r := ferry(t, 10*time.Second, s.args...)
			t.Logf("%s", strings.TrimSpace(r.stderr))
			wantOneLineError(t, r)
			if s.want != "" && !strings.Contains(r.stderr, s.want) {
				t.Errorf("the message does not say %q: %s", s.want, r)
			}
			noMountLeft(t, s.mp, s.mounts)
			if _, err := os.Stat(s.mp); err != nil && !os.IsNotExist(err) {
				t.Errorf("stat %s after the failed command: %v", s.mp, err)
			}
		})
	}
}
