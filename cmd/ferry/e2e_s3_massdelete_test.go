package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// guardDevices mounts one bucket twice, as twoDevices does, except that B
// polls only when told (`ferry sync`): the mass-delete guard weighs the
// deletes of one poll, so the tests choose what one poll sees.
func guardDevices(t *testing.T) (f *s3Fixture, a, b *ferryMount) {
	t.Helper()
	f = newS3(t)
	flags := []string{"--write-back", "100ms", "--rescan-interval", "0"}
	a = f.mount(t, f.dirs(t), append(flags, "--poll-interval", "1s", "--device-name", "devA")...)
	b = f.mount(t, f.dirs(t), append(flags, "--poll-interval", "1h", "--device-name", "devB")...)
	return f, a, b
}

// guardName is the name of the i-th file of the mass-delete tests.
func guardName(i int) string { return fmt.Sprintf("data/f%03d.txt", i) }

func guardContent(i int) string { return fmt.Sprintf("file %d\n", i) }

// shareFiles makes total files on A and has B pull them.
func shareFiles(t *testing.T, a, b *ferryMount, total int) {
	t.Helper()
	mkdirAll(t, filepath.Join(a.MP, "data"))
	for i := range total {
		writeFile(t, filepath.Join(a.MP, guardName(i)), []byte(guardContent(i)))
	}
	a.flush()
	mustFerry(t, 60*time.Second, "sync", b.MP)
	if n := countFiles(b.MP, "data"); n != total {
		t.Fatalf("B has %d files after ferry sync, want the %d A made", n, total)
	}
}

// deleteOnA deletes files [from, to) on A and flushes, which writes the
// change log; B then polls once.
func deleteOnA(t *testing.T, a, b *ferryMount, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		remove(t, filepath.Join(a.MP, guardName(i)))
	}
	a.flush()
	mustFerry(t, 60*time.Second, "sync", b.MP)
}

func countFiles(mp, dir string) int {
	ents, _ := os.ReadDir(filepath.Join(mp, dir))
	return len(ents)
}

// TestE2ETwoDevicesMassDeleteGuard: A and B share 160 files. A few
// deletes on A reach B as usual; then A deletes 120 of the remaining 155
// (more than --max-delete 50 %, and at least 100): B holds those deletes,
// keeps the files, and lists them in `ferry status --json` held_deletes,
// until `ferry sync --confirm-deletes` applies them.
func TestE2ETwoDevicesMassDeleteGuard(t *testing.T) {
	t.Parallel()
	_, a, b := guardDevices(t)
	const total, few, many = 160, 5, 120
	shareFiles(t, a, b, total)

	// A few deletes are applied at once.
	deleteOnA(t, a, b, 0, few)
	if n := countFiles(b.MP, "data"); n != total-few {
		t.Fatalf("B has %d files after A deleted %d, want %d", n, few, total-few)
	}
	if st := ferryStatus(t, b.MP); len(st.HeldDeletes) != 0 {
		t.Fatalf("B holds %d deletes after only %d were made: %q", len(st.HeldDeletes), few, st.HeldDeletes)
	}

	// B opens two of the files it will be told to delete: their content
	// is then in its cache. (For uncached ones, see
	// TestE2EHeldDeleteReadable.)
	cached := []int{few, few + many - 1}
	for _, i := range cached {
		if got, err := os.ReadFile(filepath.Join(b.MP, guardName(i))); err != nil || string(got) != guardContent(i) {
			t.Fatalf("B: read %s: %q, %v", guardName(i), got, err)
		}
	}

	// Then many: held.
	var deleted []string
	for i := few; i < few+many; i++ {
		deleted = append(deleted, guardName(i))
	}
	deleteOnA(t, a, b, few, few+many)
	st := ferryStatus(t, b.MP)
	held := slices.Sorted(slices.Values(st.HeldDeletes))
	if !slices.Equal(held, deleted) {
		t.Fatalf("B's held_deletes: %d paths, want the %d deleted on A (first: %q)", len(held), len(deleted), held[:min(3, len(held))])
	}
	// Still there, all of them.
	if n := countFiles(b.MP, "data"); n != total-few {
		t.Errorf("B holds %d files while the deletes are held, want %d", n, total-few)
	}
	for _, p := range deleted {
		if _, err := os.Lstat(filepath.Join(b.MP, p)); err != nil {
			t.Errorf("B: %s while its delete is held: %v", p, err)
		}
	}
	for _, i := range cached {
		if got, err := os.ReadFile(filepath.Join(b.MP, guardName(i))); err != nil || string(got) != guardContent(i) {
			t.Errorf("B: read %s while its delete is held: %q, %v (want %q)", guardName(i), got, err, guardContent(i))
		}
	}
	// Another poll does not apply them either.
	mustFerry(t, 30*time.Second, "sync", b.MP)
	if n := countFiles(b.MP, "data"); n != total-few {
		t.Errorf("B holds %d files after another poll, want %d", n, total-few)
	}

	// Confirm: applied, the files go.
	r := mustFerry(t, 60*time.Second, "sync", "--confirm-deletes", b.MP)
	if want := fmt.Sprintf("applied %d held deletes\n", many); r.stdout != want {
		t.Errorf("ferry sync --confirm-deletes printed %q, want %q", r.stdout, want)
	}
	if n := countFiles(b.MP, "data"); n != total-few-many {
		t.Errorf("B has %d files after --confirm-deletes, want %d", n, total-few-many)
	}
	for _, p := range deleted {
		if _, err := os.Lstat(filepath.Join(b.MP, p)); !os.IsNotExist(err) {
			t.Errorf("B: %s still there after --confirm-deletes (%v)", p, err)
			break
		}
	}
	if st := ferryStatus(t, b.MP); len(st.HeldDeletes) != 0 {
		t.Errorf("B's held_deletes after --confirm-deletes: %d paths, want none", len(st.HeldDeletes))
	}
	// The files left are the same on both devices, and B uploads nothing.
	if da, db := dirContents(t, filepath.Join(a.MP, "data")), dirContents(t, filepath.Join(b.MP, "data")); fmt.Sprint(da) != fmt.Sprint(db) {
		t.Errorf("A and B differ after the confirmed deletes:\nA: %v\nB: %v", da, db)
	}
	b.flush()
	if st := ferryStatus(t, b.MP); st.UploadedOps != 0 {
		t.Errorf("B uploaded %d ops, want none: it changed nothing", st.UploadedOps)
	}
	if strings.Contains(b.Stderr(), "level=ERROR") {
		t.Errorf("B logged errors")
	}
	a.unmount()
	b.unmount()
}

// TestE2ES3MassDeleteGuardRescan: another tool deletes 120 of the 150
// objects of the bucket; the rescan that finds them gone holds the
// deletes, as a change log from another device would, until
// --confirm-deletes.
func TestE2ES3MassDeleteGuardRescan(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	objs := map[string]string{}
	for i := range 150 {
		objs[guardName(i)] = guardContent(i)
	}
	f.putObjects(t, objs, 16)
	m := f.mount(t, f.dirs(t), "--rescan-interval", "0")
	waitImported(t, m.MP)
	if n := countFiles(m.MP, "data"); n != 150 {
		t.Fatalf("the mount shows %d files, want 150", n)
	}
	for i := range 120 {
		f.deleteObject(t, guardName(i))
	}
	mustFerry(t, 60*time.Second, "sync", "--rescan", m.MP)
	if n := len(ferryStatus(t, m.MP).HeldDeletes); n != 120 {
		t.Errorf("held_deletes after the rescan: %d paths, want 120", n)
	}
	if n := countFiles(m.MP, "data"); n != 150 {
		t.Errorf("the mount shows %d files while the deletes are held, want 150", n)
	}
	mustFerry(t, 60*time.Second, "sync", "--confirm-deletes", m.MP)
	if n := countFiles(m.MP, "data"); n != 30 {
		t.Errorf("the mount shows %d files after --confirm-deletes, want 30", n)
	}
	if n := len(ferryStatus(t, m.MP).HeldDeletes); n != 0 {
		t.Errorf("held_deletes after --confirm-deletes: %d paths", n)
	}
	m.unmount()
}

// massDeleteSetup: A and B share total files; A deletes the first del of
// them, which B holds. B has not opened any of them.
func massDeleteSetup(t *testing.T, total, del int) (f *s3Fixture, a, b *ferryMount) {
	t.Helper()
	f, a, b = guardDevices(t)
	shareFiles(t, a, b, total)
	deleteOnA(t, a, b, 0, del)
	if n := len(ferryStatus(t, b.MP).HeldDeletes); n != del {
		t.Fatalf("B holds %d deletes, want %d", n, del)
	}
	return f, a, b
}

// TestE2EHeldDeleteReadable: a file whose remote delete the mass-delete
// guard holds stays usable on B even if B never opened it: its object is
// gone from its key (A moved it to .ferry/trash/<date>/<path>), and B
// reads it from there. (Was a bug: EIO, and "download ... NoSuchKey"
// logged at level ERROR.)
func TestE2EHeldDeleteReadable(t *testing.T) {
	t.Parallel()
	_, _, b := massDeleteSetup(t, 160, 120)
	p := filepath.Join(b.MP, guardName(7))
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "file 7\n" {
		t.Errorf("B: read %s while its delete is held: %q, %v; want its content \"file 7\\n\"", p, got, err)
	}
}

// TestE2EHeldDeletesRescanOnce: a rescan while deletes are held finds the
// same files missing; they stay held once. (Was a bug: held_deletes
// listed every path twice, and --confirm-deletes applied 240 deletes.)
func TestE2EHeldDeletesRescanOnce(t *testing.T) {
	t.Parallel()
	_, _, b := massDeleteSetup(t, 160, 120)
	mustFerry(t, 60*time.Second, "sync", "--rescan", b.MP)
	held := ferryStatus(t, b.MP).HeldDeletes
	seen := map[string]int{}
	for _, p := range held {
		seen[p]++
	}
	if len(held) != 120 || len(seen) != 120 {
		t.Errorf("after a rescan, B's held_deletes has %d entries for %d paths, want 120 distinct", len(held), len(seen))
	}
	r := ferry(t, 60*time.Second, "sync", "--confirm-deletes", b.MP)
	t.Logf("%s", r)
	if r.code != 0 || r.stdout != "applied 120 held deletes\n" {
		t.Errorf("ferry sync --confirm-deletes after a rescan: want exit 0 and 120 deletes applied: %s", r)
	}
}

// TestE2EHeldDeletesKeptOnRemount: deletes held on B survive a remount of
// B after a later change moved B's poll cursor more than the one-minute
// re-read window past their log object. (Was a bug: they lived only in
// memory, and the files stayed on B for good though gone from the bucket.)
// It takes over a minute, waiting out the window, but in parallel.
func TestE2EHeldDeletesKeptOnRemount(t *testing.T) {
	t.Parallel()
	f, a, b := massDeleteSetup(t, 160, 120)
	time.Sleep(65 * time.Second)
	writeFile(t, filepath.Join(a.MP, "later.txt"), []byte("a later change\n"))
	a.flush()
	mustFerry(t, 30*time.Second, "sync", b.MP)
	if _, err := os.Lstat(filepath.Join(b.MP, "later.txt")); err != nil {
		t.Fatalf("B does not see later.txt: %v", err)
	}
	b.unmount()
	b = f.mount(t, b.mountDirs, "--write-back", "100ms", "--poll-interval", "1h", "--rescan-interval", "0", "--device-name", "devB")
	mustFerry(t, 30*time.Second, "sync", b.MP)
	held := ferryStatus(t, b.MP).HeldDeletes
	_, err := os.Lstat(filepath.Join(b.MP, guardName(0)))
	if len(held) != 120 && err == nil {
		t.Errorf("after remounting B: held_deletes has %d paths and %s still exists; want the 120 deletes still held (or applied)", len(held), guardName(0))
	}
}

// TestE2EMassDeleteOverTwoPolls: a mass delete whose log objects reach B
// over two polls (a long rm -r, or one A's uploader spreads over more than
// one 200 ms change-log batch while B polls) is held too: here A deletes
// 120 of 160 files, 60 before a poll of B and 60 after. (Was a bug: the
// guard weighed one poll at a time, and B applied all 120.)
func TestE2EMassDeleteOverTwoPolls(t *testing.T) {
	t.Parallel()
	_, a, b := guardDevices(t)
	shareFiles(t, a, b, 160)
	deleteOnA(t, a, b, 0, 60)
	deleteOnA(t, a, b, 60, 120)
	held := len(ferryStatus(t, b.MP).HeldDeletes)
	if n := countFiles(b.MP, "data"); n < 100 || held == 0 {
		t.Errorf("B applied the deletes of 120 of its 160 files (%d left), holding %d; want the second half held", n, held)
	}
}
