package main

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// outageModel is what the outage workload expects in the mount.
type outageModel struct {
	t     *testing.T
	root  string
	r     *rand.Rand
	files map[string][]byte // relative path -> content
	dirs  []string          // relative paths, "" for the root
	next  int
	ops   int
}

func (m *outageModel) abs(rel string) string { return filepath.Join(m.root, filepath.FromSlash(rel)) }

func (m *outageModel) fresh(prefix string) string {
	m.next++
	return prefix + strconv.Itoa(m.next)
}

func (m *outageModel) dir() string { return m.dirs[m.r.IntN(len(m.dirs))] }

func (m *outageModel) file() string {
	keys := slices.Sorted(maps.Keys(m.files))
	return keys[m.r.IntN(len(keys))]
}

// do runs one operation on the mount, which must finish within 20s.
func (m *outageModel) do(what string, fn func() error) {
	m.t.Helper()
	if err := bounded(m.t, 20*time.Second, what, fn); err != nil {
		m.t.Fatalf("%s: %v", what, err)
	}
	m.ops++
}

func (m *outageModel) write(rel string, data []byte) {
	m.t.Helper()
	m.do("write "+rel, func() error { return os.WriteFile(m.abs(rel), data, 0o644) })
	m.files[rel] = data
}

func (m *outageModel) mkdir(rel string) {
	m.t.Helper()
	m.do("mkdir "+rel, func() error { return os.Mkdir(m.abs(rel), 0o755) })
	m.dirs = append(m.dirs, rel)
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// step does one random operation: writes, overwrites, renames, deletes,
// mkdirs, and reads that check what the mount returns.
func (m *outageModel) step() {
	m.t.Helper()
	switch x := m.r.IntN(100); {
	case x < 25 || len(m.files) < 5:
		m.write(joinRel(m.dir(), m.fresh("f")), randomBytes(m.r, m.r.IntN(200<<10)))
	case x < 40:
		m.write(m.file(), randomBytes(m.r, m.r.IntN(200<<10)))
	case x < 55:
		from, to := m.file(), joinRel(m.dir(), m.fresh("r"))
		m.do("rename "+from+" "+to, func() error { return os.Rename(m.abs(from), m.abs(to)) })
		m.files[to] = m.files[from]
		delete(m.files, from)
	case x < 65:
		p := m.file()
		m.do("unlink "+p, func() error { return os.Remove(m.abs(p)) })
		delete(m.files, p)
	case x < 70:
		m.mkdir(joinRel(m.dir(), m.fresh("d")))
	default:
		p := m.file()
		want := m.files[p]
		m.do("read "+p, func() error {
			got, err := os.ReadFile(m.abs(p))
			if err == nil && !bytes.Equal(got, want) {
				err = fmt.Errorf("read %d bytes sha256 %.12s, want %d bytes sha256 %.12s", len(got), hashBytes(got), len(want), hashBytes(want))
			}
			return err
		})
	}
}

// check compares the mount with the model.
func (m *outageModel) check() {
	m.t.Helper()
	tree := readTree(m.t, m.root)
	for p, want := range m.files {
		if e, ok := tree[p]; !ok || e.Type != "file" || e.Hash != hashBytes(want) {
			m.t.Errorf("mount: %s is %v, want a file of %d bytes sha256 %.12s", p, e, len(want), hashBytes(want))
		}
	}
	for p, e := range tree {
		if _, ok := m.files[p]; !ok && e.Type == "file" {
			m.t.Errorf("mount: %s exists, but the workload removed it or never made it", p)
		}
	}
}

// TestE2ES3Outage stops MinIO for 20 s in the middle of a workload on a
// mount with a short write-back: the mount keeps working, without
// blocking; status reports pending ops being retried; once MinIO is back,
// flush drains everything and the bucket equals the mount.
func TestE2ES3Outage(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	d := f.dirs(t)
	m := f.mount(t, d, "--write-back", "100ms")
	seed := crashSeed(t)
	w := &outageModel{t: t, root: m.MP, r: rand.New(rand.NewPCG(seed, 9)), files: map[string][]byte{}, dirs: []string{""}}

	// Online: a tree that reaches the bucket, so that the outage sees
	// overwrites, renames and deletes of uploaded files.
	w.mkdir("a")
	w.mkdir("a/b")
	w.mkdir("c")
	for range 15 {
		w.step()
	}
	m.flush()

	// A 20 MiB file goes in parts (above the 16 MiB default cutoff); its
	// upload is starting when the server goes away.
	w.write("a/big", randomBytes(w.r, 20<<20))
	stopped := make(chan struct{})
	go func() {
		f.srv.Stop()
		close(stopped)
	}()
	for range 10 {
		w.step()
	}
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("MinIO did not stop within 30s")
	}

	// Offline for 20 s: everything local still works, and status says
	// what waits.
	outage := time.Now()
	var sawPending, sawRetrying bool
	lastStatus := time.Time{}
	bigAgain := false
	for time.Since(outage) < 20*time.Second {
		w.step()
		if !bigAgain && time.Since(outage) > 8*time.Second {
			// Rewrite the big file and move it, all offline.
			w.write("a/big", randomBytes(w.r, 20<<20))
			w.do("rename a/big c/big", func() error { return os.Rename(w.abs("a/big"), w.abs("c/big")) })
			w.files["c/big"] = w.files["a/big"]
			delete(w.files, "a/big")
			bigAgain = true
		}
		if time.Since(lastStatus) > 2*time.Second {
			st := ferryStatus(t, m.MP)
			sawPending = sawPending || st.PendingOps > 0
			sawRetrying = sawRetrying || (st.PendingOps > 0 && st.Retrying > 0)
			lastStatus = time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := ferryStatus(t, m.MP)
	t.Logf("after %v offline: %d ops, status %+v", time.Since(outage).Round(time.Second), w.ops, st)
	if !sawPending || !sawRetrying {
		t.Errorf("ferry status during the outage never showed pending ops being retried (saw pending: %v, retrying: %v)", sawPending, sawRetrying)
	}
	if r := ferry(t, 30*time.Second, "status", m.MP); r.code != 0 || pendingFromStatus(r.stdout) <= 0 {
		t.Errorf("ferry status while offline: want pending ops: %s", r)
	}
	if !m.mounted() || m.exited() {
		t.Fatalf("the mount went away during the outage:\n%s", m.Stderr())
	}

	f.srv.Restart(t)
	for range 10 {
		w.step()
	}
	r := ferry(t, 4*time.Minute, "flush", m.MP, "--timeout", "3m")
	if r.code != 0 {
		t.Errorf("flush after the outage: %s", r)
	}
	w.check()
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	if st := ferryStatus(t, m.MP); st.PendingOps != 0 || st.FailedOps != 0 {
		t.Errorf("after flush: status %+v, want nothing pending or failed", st)
	}
	if ups := f.multipartUploads(t); len(ups) > 0 {
		t.Errorf("unfinished multipart uploads left in the bucket: %q", ups)
	}
	m.unmount()
}
