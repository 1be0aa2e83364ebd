package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashModel is what the test knows of a directory tree in the mount:
// every change whose system calls all returned before the kill. The op in
// flight at the kill may or may not have happened; its paths are
// uncertain until the tree is read back.
type crashModel struct {
	root      string            // the mountpoint
	files     map[string][]byte // relative path -> content at the last close
	dirs      map[string]bool   // directories known to exist
	absent    map[string]bool   // paths known not to exist
	uncertain []string          // paths (and what is below them) of the op in flight
	next      int               // for fresh names
	history   []string          // what the workload did, to explain a failure
}

func (m *crashModel) log(iter int, what string) {
	m.history = append(m.history, fmt.Sprintf("iteration %d: %s", iter, what))
}

// explain logs the workload's history of paths.
func (m *crashModel) explain(t testing.TB, paths []string) {
	t.Helper()
	mentions := func(h string) bool {
		for _, p := range paths {
			for q := p; q != "." && q != ""; q = path.Dir(q) {
				if strings.Contains(h, " "+q+" ") || strings.HasSuffix(h, " "+q) || strings.Contains(h, " "+q+",") {
					return true
				}
			}
		}
		return false
	}
	var out []string
	for _, h := range m.history {
		if mentions(h) {
			out = append(out, h)
		}
	}
	t.Logf("what the workload did to %q and their directories:\n%s", paths, strings.Join(out, "\n"))
}

// describe names content in the history: size and hash prefix.
func describe(b []byte) string {
	return fmt.Sprintf(" (%d bytes, sha256 %.12s)", len(b), hashBytes(b))
}

func newCrashModel(root string) *crashModel {
	return &crashModel{root: root, files: map[string][]byte{}, dirs: map[string]bool{}, absent: map[string]bool{}}
}

func (m *crashModel) abs(rel string) string { return filepath.Join(m.root, filepath.FromSlash(rel)) }

func (m *crashModel) fresh(prefix string) string {
	m.next++
	return prefix + strconv.Itoa(m.next)
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// touch makes paths, and whatever is below them, uncertain: an op on them
// is about to start.
func (m *crashModel) touch(paths ...string) {
	m.uncertain = append(m.uncertain[:0], paths...)
	for _, p := range paths {
		for k := range m.files {
			if under(k, p) {
				delete(m.files, k)
			}
		}
		for k := range m.absent {
			if under(k, p) {
				delete(m.absent, k)
			}
		}
		for k := range m.dirs {
			if under(k, p) {
				delete(m.dirs, k)
			}
		}
	}
}

// done records that the op in flight completed.
func (m *crashModel) done() { m.uncertain = m.uncertain[:0] }

func (m *crashModel) isUncertain(p string) bool {
	for _, u := range m.uncertain {
		if under(p, u) {
			return true
		}
	}
	return false
}

func (m *crashModel) pick(r *rand.Rand, set map[string]bool) string {
	keys := slices.Sorted(maps.Keys(set))
	if len(keys) == 0 {
		return ""
	}
	return keys[r.IntN(len(keys))]
}

func (m *crashModel) pickFile(r *rand.Rand) string {
	keys := slices.Sorted(maps.Keys(m.files))
	if len(keys) == 0 {
		return ""
	}
	return keys[r.IntN(len(keys))]
}

func (m *crashModel) empty(dir string) bool {
	for k := range m.files {
		if under(k, dir) && k != dir {
			return false
		}
	}
	for k := range m.dirs {
		if under(k, dir) && k != dir {
			return false
		}
	}
	return true
}

// load replaces the model with the tree as it is in the mount now.
func (m *crashModel) load(t testing.TB, top string) {
	t.Helper()
	m.files, m.dirs, m.absent = map[string][]byte{}, map[string]bool{}, map[string]bool{}
	m.done()
	err := filepath.WalkDir(m.abs(top), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case de.IsDir():
			m.dirs[rel] = true
		case de.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m.files[rel] = b
		default:
			return fmt.Errorf("%s: unexpected type %v", rel, de.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read back the tree: %v", err)
	}
}

// verify checks the mount against the model: every known file has its
// content, every known directory exists, every removed path is gone, and
// nothing else is there except below the paths of the op in flight.
func (m *crashModel) verify(t testing.TB, top string) (bad []string) {
	t.Helper()
	errs := 0
	report := func(p, format string, args ...any) {
		t.Helper()
		bad = append(bad, p)
		if errs++; errs <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(m.files)) {
		want := m.files[p]
		got, err := os.ReadFile(m.abs(p))
		switch {
		case err != nil:
			report(p, "%s (closed before the kill, %d bytes): %v", p, len(want), err)
		case !bytes.Equal(got, want):
			report(p, "%s: has %d bytes sha256 %.12s, want the %d bytes sha256 %.12s it had at close", p, len(got), hashBytes(got), len(want), hashBytes(want))
		}
	}
	for p := range m.dirs {
		if fi, err := os.Lstat(m.abs(p)); err != nil || !fi.IsDir() {
			report(p, "directory %s (made before the kill): %v", p, err)
		}
	}
	for p := range m.absent {
		if _, err := os.Lstat(m.abs(p)); !errors.Is(err, fs.ErrNotExist) {
			report(p, "%s was removed before the kill, but Lstat says %v", p, err)
		}
	}
	filepath.WalkDir(m.abs(top), func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			report(p, "walk %s: %v", p, err)
			return nil
		}
		rel, _ := filepath.Rel(m.root, p)
		rel = filepath.ToSlash(rel)
		_, isFile := m.files[rel]
		if !isFile && !m.dirs[rel] && !m.isUncertain(rel) {
			report(rel, "%s exists, but the workload never made it (uncertain: %q)", rel, m.uncertain)
		}
		return nil
	})
	if errs > 20 {
		t.Errorf("... %d problems in all", errs)
	}
	return bad
}

// crashWorkload does random file operations on the model's tree until
// stop is closed or an op fails. An error seen after killed was set is
// the crash, not a failure.
type crashWorkload struct {
	m      *crashModel
	r      *rand.Rand
	top    string // the directory the workload plays in
	ops    int
	iter   int // for the history
	killed *atomic.Bool
}

func (w *crashWorkload) content() []byte {
	var n int
	switch x := w.r.IntN(20); {
	case x < 3:
		n = 0
	case x < 12:
		n = w.r.IntN(4096) + 1
	case x < 19:
		n = w.r.IntN(300<<10) + 1
	default:
		n = w.r.IntN(2<<20) + 1
	}
	return randomBytes(w.r, n)
}

// writeNew creates p with data, in several writes, sometimes fsyncing.
func (w *crashWorkload) writeFile(p string, flags int, data []byte) error {
	f, err := os.OpenFile(w.m.abs(p), flags, 0o644)
	if err != nil {
		return err
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+w.r.IntN(256<<10))
		if _, err := f.Write(rest[:n]); err != nil {
			f.Close()
			return err
		}
		rest = rest[n:]
	}
	if w.r.IntN(4) == 0 {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func (w *crashWorkload) pickDir() string {
	return w.m.pick(w.r, w.m.dirs)
}

// step does one random op and updates the model once it has completed.
// It returns what it did ("" for nothing).
func (w *crashWorkload) step() (what string, err error) {
	m := w.m
	file := m.pickFile(w.r)
	op := w.r.IntN(100)
	if file == "" || (len(m.files) < 30 && op >= 40) {
		op = 0 // grow first
	}
	if len(m.files) > 150 && op < 30 {
		op = 60 // unlink some
	}
	switch {
	case op < 30: // create a new file
		p := w.pickDir() + "/" + m.fresh("f")
		data := w.content()
		what = "create " + p + describe(data)
		m.touch(p)
		if err := w.writeFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, data); err != nil {
			return what, err
		}
		m.files[p] = data
	case op < 40: // overwrite in place
		data := w.content()
		what = "overwrite " + file + describe(data)
		m.touch(file)
		if err := w.writeFile(file, os.O_TRUNC|os.O_WRONLY, data); err != nil {
			return what, err
		}
		m.files[file] = data
	case op < 50: // append
		old := m.files[file]
		data := randomBytes(w.r, w.r.IntN(8192)+1)
		what = "append to " + file + describe(data)
		m.touch(file)
		if err := w.writeFile(file, os.O_APPEND|os.O_WRONLY, data); err != nil {
			return what, err
		}
		m.files[file] = append(slices.Clip(old), data...)
	case op < 60: // temp file + rename over it, like an editor
		tmp := filepath.ToSlash(filepath.Dir(file)) + "/." + m.fresh("tmp")
		data := w.content()
		what = "write " + tmp + describe(data) + ", rename it over " + file
		m.touch(file, tmp)
		if err := w.writeFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, data); err != nil {
			return what, err
		}
		if err := os.Rename(m.abs(tmp), m.abs(file)); err != nil {
			return what, err
		}
		m.files[file] = data
		m.absent[tmp] = true
	case op < 70: // unlink
		what = "unlink " + file
		m.touch(file)
		if err := os.Remove(m.abs(file)); err != nil {
			return what, err
		}
		m.absent[file] = true
	case op < 82: // rename a file, sometimes over another
		data := m.files[file]
		to := w.pickDir() + "/" + m.fresh("r")
		if w.r.IntN(3) == 0 {
			if other := m.pickFile(w.r); other != file {
				to = other
			}
		}
		what = "rename " + file + " " + to
		m.touch(file, to)
		if err := os.Rename(m.abs(file), m.abs(to)); err != nil {
			return what, err
		}
		m.files[to] = data
		m.absent[file] = true
	case op < 90: // mkdir
		p := w.pickDir() + "/" + m.fresh("d")
		what = "mkdir " + p
		m.touch(p)
		if err := os.Mkdir(m.abs(p), 0o755); err != nil {
			return what, err
		}
		m.dirs[p] = true
	case op < 95: // rename a directory with everything in it
		from := w.pickDir()
		to := w.pickDir()
		if from == w.top || under(to, from) {
			return "", nil
		}
		to += "/" + m.fresh("D")
		var files map[string][]byte = map[string][]byte{}
		var dirs []string
		for k, v := range m.files {
			if under(k, from) {
				files[to+strings.TrimPrefix(k, from)] = v
			}
		}
		for k := range m.dirs {
			if under(k, from) {
				dirs = append(dirs, to+strings.TrimPrefix(k, from))
			}
		}
		what = "rename directory " + from + " " + to
		m.touch(from, to)
		if err := os.Rename(m.abs(from), m.abs(to)); err != nil {
			return what, err
		}
		maps.Copy(m.files, files)
		for _, d := range dirs {
			m.dirs[d] = true
		}
		m.absent[from] = true
	default: // rmdir an empty directory
		p := w.pickDir()
		if p == w.top || !m.empty(p) {
			return "", nil
		}
		what = "rmdir " + p
		m.touch(p)
		if err := os.Remove(m.abs(p)); err != nil {
			return what, err
		}
		m.absent[p] = true
	}
	m.done()
	w.ops++
	return what, nil
}

// run does ops until stop is closed or the mount dies.
func (w *crashWorkload) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		what, err := w.step()
		switch {
		case err != nil && w.killed.Load():
			w.m.log(w.iter, "in flight at the kill: "+what)
			return nil
		case err != nil:
			return fmt.Errorf("%s (ferry still running): %w", what, err)
		case what != "":
			w.m.log(w.iter, what)
		}
	}
}

// crashSeed returns $FERRY_E2E_SEED or a fresh seed, logged for replay.
func crashSeed(t testing.TB) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FERRY_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_E2E_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with FERRY_E2E_SEED=%d)", seed, seed)
	return seed
}

// TestE2ECrashRemount kills ferry with SIGKILL in the middle of a random
// workload, over and over: each time the next mount must clean up the
// stale mountpoint, every change that returned before the kill must be
// there, and after a flush the remote must equal the mount.
func TestE2ECrashRemount(t *testing.T) {
	t.Parallel()
	const iterations = 15
	seed := crashSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	d := newMountDirs(t)
	model := newCrashModel(d.MP)
	const top = "w"
	writeBacks := []string{"0s", "20ms", "100ms", "500ms", "1h"}

	for i := 0; i <= iterations; i++ {
		wb := writeBacks[r.IntN(len(writeBacks))]
		m := startMount(t, d, "--write-back", wb, "--transfers", strconv.Itoa(1+r.IntN(8)))
		if i == 0 {
			if err := os.Mkdir(model.abs(top), 0o755); err != nil {
				t.Fatal(err)
			}
		} else if bad := model.verify(t, top); len(bad) > 0 {
			model.explain(t, bad[:min(len(bad), 10)])
		}
		m.flush()
		if _, diff := compareTreesPaths(t, d.MP, d.Remote, compareOpts{perm: true, scratchOK: true}); len(diff) > 0 {
			logJournal(t, d.MP, diff)
			model.explain(t, diff)
		}
		if t.Failed() {
			t.Fatalf("iteration %d (write-back %s): mount or remote does not hold what the workload did before the kill", i, wb)
		}
		if i == iterations {
			m.unmount()
			break
		}
		model.load(t, top)

		w := killDuringWorkload(t, m, model, r, top, i, 50, 250)
		t.Logf("iteration %d: write-back %s, %d ops before the kill, in flight: %q", i, wb, w.ops, model.uncertain)
		wantStale(t, d.MP)
	}
}

// TestE2EFsyncDurable: data that was fsynced, or written and closed,
// survives a kill -9, even with the file still open.
func TestE2EFsyncDurable(t *testing.T) {
	t.Parallel()
	d := newMountDirs(t)
	m := startMount(t, d, "--write-back", "1h")
	synced := randomBytes(rand.New(rand.NewPCG(7, 7)), 200<<10)
	f, err := os.Create(filepath.Join(d.MP, "synced"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(synced); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(d.MP, "closed"), []byte("closed before the kill\n"))
	mkdirAll(t, filepath.Join(d.MP, "dir/sub"))
	if err := os.Symlink("../closed", filepath.Join(d.MP, "dir/link")); err != nil {
		t.Fatal(err)
	}
	// Rewritten through O_TRUNC and still open at the kill: the kernel
	// truncates with a SETATTR on the open file, then writes.
	writeFile(t, filepath.Join(d.MP, "rewritten"), []byte("the old content, closed\n"))
	rw, err := os.OpenFile(filepath.Join(d.MP, "rewritten"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if _, err := rw.Write([]byte("new!")); err != nil {
		t.Fatal(err)
	}
	m.kill9() // "synced" and "rewritten" are still open
	wantStale(t, d.MP)

	m = startMount(t, d, "--write-back", "100ms")
	if got, err := os.ReadFile(filepath.Join(d.MP, "synced")); err != nil || !bytes.Equal(got, synced) {
		t.Errorf("fsynced file after kill -9: %d bytes, err %v; want %d bytes of what was written", len(got), err, len(synced))
	}
	if got, err := os.ReadFile(filepath.Join(d.MP, "closed")); err != nil || string(got) != "closed before the kill\n" {
		t.Errorf("closed file after kill -9: %q, %v", got, err)
	}
	if l, err := os.Readlink(filepath.Join(d.MP, "dir/link")); err != nil || l != "../closed" {
		t.Errorf("symlink after kill -9: %q, %v", l, err)
	}
	// Written but neither closed nor fsynced: either version may survive,
	// but what stat says must match what reads return, and the remote
	// must end up with the same.
	got, err := os.ReadFile(filepath.Join(d.MP, "rewritten"))
	fi, serr := os.Stat(filepath.Join(d.MP, "rewritten"))
	if err != nil || serr != nil || fi.Size() != int64(len(got)) {
		t.Errorf("file rewritten and open at the kill: stat %v (%v), read %q (%v): size and content disagree", fi.Size(), serr, got, err)
	}
	m.flush()
	compareTrees(t, d.MP, d.Remote, compareOpts{perm: true, fileMtimes: true, scratchOK: true})
	if fi, err := os.Stat(filepath.Join(d.Remote, "synced")); err != nil || fi.Size() != int64(len(synced)) {
		t.Errorf("remote copy of the fsynced file: %v, %v", fi, err)
	}
}

// wantStale checks that the mount at mp has lost its server: statfs and
// readdir reach the server (stat may still be answered from the kernel's
// attribute cache) and must fail with ENOTCONN.
func wantStale(t testing.TB, mp string) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(mp, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("after kill -9, statfs %s = %v, want ENOTCONN (a stale mount)", mp, err)
	}
	if _, err := os.ReadDir(mp); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("after kill -9, readdir %s = %v, want ENOTCONN (a stale mount)", mp, err)
	}
}

// killDuringWorkload runs a random workload on top for minMs plus up to
// spreadMs milliseconds, then kill -9s the mount and waits for the
// workload to notice.
func killDuringWorkload(t *testing.T, m *ferryMount, model *crashModel, r *rand.Rand, top string, i, minMs, spreadMs int) *crashWorkload {
	t.Helper()
	var killed atomic.Bool
	w := &crashWorkload{m: model, r: rand.New(rand.NewPCG(r.Uint64(), 3)), top: top, iter: i, killed: &killed}
	stop := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- w.run(stop) }()
	time.Sleep(time.Duration(minMs+r.IntN(spreadMs)) * time.Millisecond)
	killed.Store(true)
	m.kill9()
	close(stop)
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("iteration %d: workload: %v", i, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("iteration %d: the workload is stuck after the kill", i)
	}
	return w
}
