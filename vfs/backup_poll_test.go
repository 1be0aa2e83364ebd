package vfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/journal"
	"github.com/ferry-fs/ferry/remote"
)

// TestBackupPollLeavesANewerFile: the backup mode hears from the change log
// that another device deleted a file it uploaded, and uploads it again,
// but only if the path is still empty: a file someone put there since is
// newer than the backup's copy. It was overwritten, theirs kept only as a
// conflict copy.
func TestBackupPollLeavesANewerFile(t *testing.T) {
	ctx := context.Background()
	l, root := newLocal(t)
	fs, up := newSynced(t, l, journal.Config{Device: "devU", DeviceID: "u1", UploadOnly: true, KeepDeletes: true})
	up.StartPolling(journal.PollConfig{Interval: time.Hour, UploadOnly: true})
	(&rig{fs: fs}).writeFile(t, 1, "f", "the backup's copy")
	flushAll(t, up)
	mine, err := l.Stat(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}

	// Another device deletes f, logs it, and puts a new f.
	if err := os.Remove(filepath.Join(root, "f")); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("log/%020d-%s-%010d.json", time.Now().UnixNano(), "other", 1)
	logged := fmt.Sprintf(`{"changes":[{"op":"delete","path":"f","etag":%q}]}`, mine.Version)
	if err := l.PutArea(ctx, name, []byte(logged)); err != nil {
		t.Fatal(err)
	}
	putTheirs(t, l, "f", "theirs, newer", remote.Cond{IfNoneMatch: true})

	if err := up.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	flushAll(t, up)
	if got, err := os.ReadFile(filepath.Join(root, "f")); err != nil || string(got) != "theirs, newer" {
		t.Errorf("remote f = %q (%v), want the newer file left alone", got, err)
	}
}
