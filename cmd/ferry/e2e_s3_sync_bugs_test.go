package main

// Known bugs of two-way sync, found by the end-to-end tests. Each test
// here fails on the current code: it states what should happen. They are
// skipped unless FERRY_E2E_BUGS is set:
//
//	FERRY_E2E_BUGS=1 FERRY_BIN=$PWD/bin/ferry go test ./cmd/ferry -run TestE2EBug -v
//
// Once a bug is fixed, move its test to the file of its feature.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("FERRY_E2E_BUGS") == "" {
		t.Skip("known bug: " + what)
	}
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

// TestE2EHeldDeleteReadable (was a bug): a file whose remote delete the
// mass-delete guard holds is still listed on B, but if B never opened it
// before, reading it fails with EIO (the object is gone from its key; it
// sits in .ferry/trash/<date>/<path>), and the mount logs level=ERROR
// "download ... NoSuchKey". Holding the delete should keep the file
// usable: read it from the recycle bin, or keep it readable some other way.
func TestE2EHeldDeleteReadable(t *testing.T) {
	t.Parallel()
	_, _, b := massDeleteSetup(t, 160, 120)
	p := filepath.Join(b.MP, guardName(7))
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "file 7\n" {
		t.Errorf("B: read %s while its delete is held: %q, %v; want its content \"file 7\\n\"", p, got, err)
	}
}

// TestE2EHeldDeletesRescanOnce (was a bug): a rescan while deletes are held finds
// the same files missing and holds them a second time: held_deletes lists
// every path twice, and --confirm-deletes then reports twice the count
// (or fails on the second delete of the same path).
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

// TestE2EHeldDeletesKeptOnRemount (was a bug): the held deletes live only in the
// mount's memory, while the poll cursor is saved. Once a later change
// moves B's cursor more than the one-minute window past the log object
// of the deletes, a remount of B forgets them: held_deletes is empty and
// the files stay on B for good (with --rescan-interval 0; else until the
// next rescan), though they are gone from the bucket. Want: still held
// after the remount. (Takes a minute: the window.)
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

// TestE2EMassDeleteOverTwoPolls (was a bug): the guard weighs the deletes of one
// poll only. A mass delete whose log objects reach B over two polls (a
// long rm -r, or one that A's uploader spreads over more than one
// 200 ms change-log batch while B polls) is applied without holding:
// here A deletes 120 of 160 files, 60 before a poll of B and 60 after,
// and B deletes all 120 (75 % of its files, in two seconds).
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

// TestE2EBugUploadModeConflictPullsRemote: in --mode upload ("remote
// changes are not pulled"), U backs up mine.txt; A edits it in the bucket;
// then U edits it too. U's upload is refused (If-Match) and handled as a
// two-way conflict: U's version is renamed to "mine (conflict ... devU).txt"
// and A's version is downloaded into U's mount under mine.txt, so the
// backup mount now shows another device's content under its own file's
// name (logged: WARN "conflict: both sides changed; kept both"). Want: U's
// mine.txt keeps U's content, and U's version reaches the bucket (under
// the name or a conflict name) without A's being lost.
func TestE2EBugUploadModeConflictPullsRemote(t *testing.T) {
	knownBug(t, "in --mode upload, a conflict pulls the remote version into the mount under the file's name and renames the local file")
	t.Parallel()
	f := newS3(t)
	a := f.mount(t, f.dirs(t), "--write-back", "100ms", "--poll-interval", "500ms", "--device-name", "devA")
	u := f.mount(t, f.dirs(t), "--mode", "upload", "--write-back", "100ms", "--poll-interval", "500ms", "--device-name", "devU")
	writeFile(t, filepath.Join(u.MP, "mine.txt"), []byte("U1\n"))
	u.flush()
	eventually(t, 30*time.Second, "A never sees mine.txt", contentIs(filepath.Join(a.MP, "mine.txt"), "U1\n"))
	writeFile(t, filepath.Join(a.MP, "mine.txt"), []byte("A's edit\n"))
	a.flush()
	writeFile(t, filepath.Join(u.MP, "mine.txt"), []byte("U2\n"))
	u.flush()
	if b, err := os.ReadFile(filepath.Join(u.MP, "mine.txt")); err != nil || string(b) != "U2\n" {
		t.Errorf("U's mine.txt is %q (%v) after flush, want U's own \"U2\\n\"; U holds %v", b, err, dirContents(t, u.MP))
	}
	found := map[string]bool{}
	for _, k := range f.keys(t, "") {
		if b, _, err := f.getObject(ctxFor(t, time.Minute), k); err == nil {
			found[string(b)] = true
		}
	}
	if !found["U2\n"] || !found["A's edit\n"] {
		t.Errorf("the bucket does not hold both versions (U2: %v, A's edit: %v)", found["U2\n"], found["A's edit\n"])
	}
}

// TestE2EBugFlushBeforeConflictCopy: `ferry flush` returns (exit 0) while
// the conflict copy that its refused upload made is not yet in the bucket.
// A and B edit shared.txt; A flushes; B flushes: B's upload gets 412, B
// renames its version to "shared (conflict ... devB).txt" and journals it
// as new, but the flush that was waiting returns at once. Want: after B's
// flush exits 0, the bucket holds B's version (README: flush "blocks until
// every journaled change has reached the remote").
func TestE2EBugFlushBeforeConflictCopy(t *testing.T) {
	knownBug(t, "ferry flush returns before the conflict copy made by a refused upload is uploaded")
	t.Parallel()
	f, a, b := twoDevices(t, "--rescan-interval", "0")
	pa, pb := filepath.Join(a.MP, "shared.txt"), filepath.Join(b.MP, "shared.txt")
	writeFile(t, pa, []byte("base\n"))
	a.flush()
	eventually(t, 30*time.Second, "B never sees shared.txt", contentIs(pb, "base\n"))
	// B's edit waits: a long enough write-back is not needed, B's
	// upload happens only at its flush, after A's.
	writeFile(t, pa, []byte("edit from A\n"))
	writeFile(t, pb, []byte("edit from B\n"))
	a.flush()
	b.flush()
	found := map[string]string{}
	for _, k := range f.keys(t, "") {
		if b, _, err := f.getObject(ctxFor(t, time.Minute), k); err == nil && !strings.HasPrefix(k, ".ferry/") {
			found[string(b)] = k
		}
	}
	if _, ok := found["edit from B\n"]; !ok {
		t.Errorf("B's flush exited 0, but B's version is not in the bucket: %v\nB's journal: %v", found, journalOps(t, b.MP, "--state", "all"))
	}
}
