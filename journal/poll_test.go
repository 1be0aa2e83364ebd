package journal

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/local"
)

// quietTree is a Tree to which no remote change comes: polls of an empty
// log only settle it.
type quietTree struct{ Tree }

func (quietTree) Settle() {}

// newPollRig is an uploader to a local folder with its change log area, and
// a poll state of cfg set by hand (StartPolling wants a Tree).
func newPollRig(t *testing.T, cfg PollConfig, cursor time.Time) (*Uploader, *local.Local) {
	t.Helper()
	r := newRig(t)
	l, err := local.New(r.root)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewUploader(r.store, r.j, l, r.src, Config{DeviceID: "me", Tree: quietTree{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	up.pollMu.Lock()
	up.poll = &pollState{cfg: cfg, cursor: cursor, seen: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	up.pollMu.Unlock()
	return up, l
}

// TestExpireLogOfAnyDevice: log objects past the retention go, whichever
// device wrote them (one that never comes back left its log for good);
// another device's a day later, as this clock may run ahead of theirs.
func TestExpireLogOfAnyDevice(t *testing.T) {
	ctx := context.Background()
	up, l := newPollRig(t, PollConfig{Retention: 7 * 24 * time.Hour, Window: time.Minute}, time.Now())
	now := time.Now()
	day := 24 * time.Hour
	names := []string{
		logName(now.Add(-10*day), "gone", 1),
		logName(now.Add(-9*day), "me", 1),
		logName(now.Add(-7*day-12*time.Hour), "gone", 2), // kept a day longer: clocks differ
		logName(now.Add(-7*day-11*time.Hour), "me", 2),
		logName(now.Add(-time.Hour), "gone", 3),
	}
	want := []string{names[2], names[4]}
	for _, n := range names {
		if err := l.PutArea(ctx, n, []byte(`{"changes":[]}`)); err != nil {
			t.Fatal(err)
		}
	}
	up.expireLog(ctx)
	var left []string
	if err := l.ListArea(ctx, logPrefix, "", 0, func(o remote.AreaObject) error {
		left = append(left, o.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, want) {
		t.Errorf("log after expiry: %q, want only %q", left, want)
	}
}

// TestQuietPollMovesTheCursor: a poll that finds nothing new for half the
// retention moves the cursor on. It stayed at the newest log object, so a
// remote nobody wrote to for a week looked like a week's absence, and
// every mount of it listed the whole tree.
func TestQuietPollMovesTheCursor(t *testing.T) {
	old := time.Now().Add(-5 * 24 * time.Hour)
	up, _ := newPollRig(t, PollConfig{Retention: 7 * 24 * time.Hour, Window: time.Minute}, old)
	if err := up.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	up.pollMu.Lock()
	cursor := up.poll.cursor
	up.pollMu.Unlock()
	if time.Since(cursor) > 2*time.Minute {
		t.Errorf("cursor %v after a quiet poll, want within the window of now", cursor)
	}
	up.store.Fold()
	if saved := time.Unix(0, int64(up.store.GetUint(metaKeyCursor))); !saved.Equal(cursor) {
		t.Errorf("cursor saved as %v, want %v", saved, cursor)
	}
}

// appliedTree is an empty Tree that records the entries polls apply.
type appliedTree struct {
	quietTree
	applied []string
}

func (t *appliedTree) NodeAt(string) (uint64, bool, bool) { return 0, false, false }

func (t *appliedTree) ApplyEntry(e remote.Entry) (uint64, error) {
	t.applied = append(t.applied, e.Path)
	return uint64(len(t.applied)), nil
}

// TestPollReadsLateLogObjects: a log object that lands after the cursor
// passed its time (its writer's clock runs behind, or its PUT was slow) is
// still applied while it is inside the safety window, and only once; one
// older than the window is left to the reconciliation listing.
func TestPollReadsLateLogObjects(t *testing.T) {
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	up, l := newPollRig(t, PollConfig{Retention: 7 * 24 * time.Hour, Window: time.Minute}, start)
	tree := &appliedTree{}
	up.cfg.Tree = tree
	put := func(at time.Time, seq uint64, path string) {
		t.Helper()
		body := `{"device":"other","changes":[{"op":"put","path":"` + path + `","etag":"v-` + path + `","size":1}]}`
		if err := l.PutArea(ctx, logName(at, "other", seq), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	poll := func(want ...string) {
		t.Helper()
		tree.applied = nil
		if err := up.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tree.applied, want) {
			t.Errorf("poll applied %q, want %q", tree.applied, want)
		}
	}
	newest := start.Add(10 * time.Minute)
	put(newest, 1, "on-time")
	poll("on-time")
	put(newest.Add(-30*time.Second), 2, "late")
	put(newest.Add(-2*time.Minute), 3, "too-late")
	poll("late")
	poll()
}

// refusingDelete fails every Delete while down.
type refusingDelete struct {
	remote.Remote
	down bool
}

func (r *refusingDelete) Delete(ctx context.Context, p string, c remote.Cond) error {
	if r.down {
		return errors.New("connection refused")
	}
	return r.Remote.Delete(ctx, p, c)
}

// TestStrayVersionsRemovedLater: versions this device must take away and
// could not (the remote was down) are remembered, each of them (the list
// is read back before the store folds it), and removed by a later poll;
// one replaced there since stays, and both are forgotten once settled.
func TestStrayVersionsRemovedLater(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	l, err := local.New(r.root)
	if err != nil {
		t.Fatal(err)
	}
	rem := &refusingDelete{Remote: l, down: true}
	up, err := NewUploader(r.store, r.j, rem, r.src, Config{DeviceID: "me"})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	put := func(p, body string, c remote.Cond) remote.Entry {
		t.Helper()
		e, err := l.Put(ctx, p, strings.NewReader(body), int64(len(body)), remote.Meta{}, c)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a := put("a", "old name", remote.Cond{IfNoneMatch: true})
	b := put("b", "old name", remote.Cond{IfNoneMatch: true})
	for _, e := range []remote.Entry{a, b} {
		if err := up.removeVersion(ctx, e.Path, e.Version); err == nil {
			t.Fatal("a delete while the remote is down succeeded")
		}
		up.removeLater(e.Path, e.Version)
	}
	put("b", "written since", remote.Cond{IfMatch: b.Version})
	up.removeStrays(ctx) // still down: both kept
	var strays []Change
	up.loadMeta(metaKeyStrays, &strays)
	if len(strays) != 2 {
		t.Fatalf("remembered %v while the remote is down, want both", strays)
	}
	rem.down = false
	up.removeStrays(ctx)
	if _, err := l.Stat(ctx, "a"); !errors.Is(err, remote.ErrNotFound) {
		t.Errorf("a left at its old name: %v", err)
	}
	if e, err := l.Stat(ctx, "b"); err != nil || e.Size != int64(len("written since")) {
		t.Errorf("b, written since, was taken: %+v, %v", e, err)
	}
	strays = nil
	up.loadMeta(metaKeyStrays, &strays)
	if len(strays) != 0 {
		t.Errorf("still remembered: %v", strays)
	}
}

// TestLogWaitWhileUploading: with uploads under way (a bulk upload), the
// change log gathers for a second, not 200 ms, so an untar writes a few
// large log objects rather than one every 200 ms.
func TestLogWaitWhileUploading(t *testing.T) {
	up, _ := newPollRig(t, PollConfig{Retention: time.Hour, Window: time.Minute}, time.Now())
	if w := up.logWait(); w != logInterval {
		t.Errorf("idle: log waits %v, want %v", w, logInterval)
	}
	a := &action{}
	up.mu.Lock()
	up.running[a] = true
	up.mu.Unlock()
	if w := up.logWait(); w != logBusyInterval {
		t.Errorf("uploading: log waits %v, want %v", w, logBusyInterval)
	}
	up.mu.Lock()
	delete(up.running, a)
	up.mu.Unlock()
}
