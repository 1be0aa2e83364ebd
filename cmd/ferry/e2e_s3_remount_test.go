package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestE2ES3RemountListsNothing: a cache mounted before mounts again
// without listing the bucket: no tree listing, no poll of the change log
// before its interval is up (a remount keeps the poll's beat), no purge of
// the recycle bin and no sweep of abandoned uploads (both daily). The first
// mount does all of those.
func TestE2ES3RemountListsNothing(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	f.putObjects(t, map[string]string{"a/one.txt": "one\n", "b/two.txt": "two\n"}, 2)
	d := f.dirs(t)
	m := f.mount(t, d, "--poll-interval", "1s", "--rescan-interval", "0")
	waitImported(t, m.MP)
	var first statusReply
	eventually(t, 10*time.Second, "the first mount never polls and sweeps uploads", func() bool {
		first = ferryStatus(t, m.MP)
		return !first.LastPoll.IsZero() && first.RemoteRequests["ListMultipartUploads"] > 0
	})
	t.Logf("requests of the first mount: %v", first.RemoteRequests)
	for _, op := range []string{"ListObjectsV2", "ListMultipartUploads"} {
		if first.RemoteRequests[op] == 0 {
			t.Errorf("the first mount sent no %s; the test would prove nothing", op)
		}
	}
	m.unmount()

	m = f.mount(t, d, "--poll-interval", "1h", "--rescan-interval", "0")
	if ents, err := os.ReadDir(filepath.Join(m.MP, "a")); err != nil || len(ents) != 1 {
		t.Fatalf("after the remount a/ lists %d entries (%v), want 1", len(ents), err)
	}
	time.Sleep(2 * time.Second) // room for anything started in the background
	again := ferryStatus(t, m.MP)
	t.Logf("requests of the remount: %v", again.RemoteRequests)
	for _, op := range []string{"ListObjectsV2", "ListMultipartUploads"} {
		if n := again.RemoteRequests[op]; n != 0 {
			t.Errorf("the remount sent %d %s requests, want none", n, op)
		}
	}
	// The poll's beat is kept, not lost: `ferry sync` still polls at once.
	mustFerry(t, 30*time.Second, "sync", m.MP)
	if ferryStatus(t, m.MP).LastPoll.IsZero() {
		t.Errorf("ferry sync after the remount did not poll")
	}
}
