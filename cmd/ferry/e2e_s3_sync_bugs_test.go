package main

// Bugs of two-way sync that the end-to-end tests found, each test stating
// what should happen. All are fixed, and all run.
import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EUploadModeConflictKeepsLocal: in --mode upload ("remote
// changes are not pulled"), U backs up mine.txt; A edits it in the bucket;
// then U edits it too. U's upload is refused (If-Match) and handled as a
// two-way conflict: U's version is renamed to "mine (conflict ... devU).txt"
// and A's version is downloaded into U's mount under mine.txt, so the
// backup mount now shows another device's content under its own file's
// name (logged: WARN "conflict: both sides changed; kept both"). Want: U's
// mine.txt keeps U's content, and U's version reaches the bucket (under
// the name or a conflict name) without A's being lost.
func TestE2EUploadModeConflictKeepsLocal(t *testing.T) {
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
	// Both versions reach the bucket. (Polled: a flush may return before
	// a conflict copy is up, see TestE2EFlushWaitsForConflictCopy.)
	var found map[string]bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		found = map[string]bool{}
		for _, k := range f.keys(t, "") {
			if b, _, err := f.getObject(ctxFor(t, time.Minute), k); err == nil {
				found[string(b)] = true
			}
		}
		if found["U2\n"] && found["A's edit\n"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !found["U2\n"] || !found["A's edit\n"] {
		t.Errorf("the bucket does not hold both versions (U2: %v, A's edit: %v)", found["U2\n"], found["A's edit\n"])
	}
}

// TestE2EFlushWaitsForConflictCopy: `ferry flush` returns (exit 0) while
// the conflict copy that its refused upload made is not yet in the bucket.
// A and B edit shared.txt; A flushes; B flushes: B's upload gets 412, B
// renames its version to "shared (conflict ... devB).txt" and journals it
// as new, but the flush that was waiting returns at once. Want: after B's
// flush exits 0, the bucket holds B's version (README: flush "blocks until
// every journaled change has reached the remote").
func TestE2EFlushWaitsForConflictCopy(t *testing.T) {
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

// TestE2EStatusTextHeldDeletes: the README says held deletes are
// "listed in `ferry status` until ferry sync --confirm-deletes", but the
// text output of `ferry status MOUNTPOINT` (without --json) says nothing
// about them (nor about the poll error or skipped keys): only --json has
// held_deletes. Want: the text status says how many deletes are held (or
// lists them) and how to apply them.
func TestE2EStatusTextHeldDeletes(t *testing.T) {
	t.Parallel()
	_, _, b := massDeleteSetup(t, 160, 120)
	r := mustFerry(t, 20*time.Second, "status", b.MP)
	out := strings.ToLower(r.stdout)
	if !strings.Contains(out, "held") || !(strings.Contains(out, "120") || strings.Contains(out, guardName(0))) {
		t.Errorf("ferry status does not mention the 120 held deletes:\n%s", r.stdout)
	}
}
