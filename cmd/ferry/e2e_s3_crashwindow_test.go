package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestE2ES3KillAfterPutBeforeRecord places a kill -9 deterministically in
// the window TestE2ES3CrashRemount hits by chance: the server has stored
// an upload of ferry's, but ferry dies before it reads the answer, so the
// journal does not know the object's new ETag. After the remount, ferry's
// own upload must not turn its next conditional write into a conflict.
// Three files take the three ways on: kept.txt is uploaded again;
// gone.txt is deleted before the upload is replayed (the delete absorbs
// it); later.txt is uploaded again, then deleted. The remount has a long
// write-back, so that only flush starts uploads and the order is fixed.
func TestE2ES3KillAfterPutBeforeRecord(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	proxy := newRecordingProxy(t, f.srv.Endpoint)
	d := f.dirs(t)
	flags := []string{"--s3-endpoint", proxy.URL}
	m := startMountEnv(t, d, f.env(), append(flags, "--write-back", "0s")...)
	names := []string{"kept.txt", "gone.txt", "later.txt"}
	for _, n := range names {
		writeFile(t, filepath.Join(m.MP, n), []byte(n+", version 1\n"))
	}
	m.flush()

	// The next uploads of the files reach the bucket; their answers never
	// reach ferry.
	stored := make(chan string, 10)
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	proxy.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		key := strings.TrimPrefix(r.URL.Path, "/"+f.bucket+"/")
		if r.Method != http.MethodPut || !slices.Contains(names, key) || r.URL.Query().Has("uploadId") {
			return false
		}
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			stored <- key
		}
		select { // until ferry dies
		case <-r.Context().Done():
		case <-release:
		}
		return true
	})
	for _, n := range names {
		writeFile(t, filepath.Join(m.MP, n), []byte(n+", version 2\n"))
	}
	seen := map[string]bool{}
	for len(seen) < len(names) {
		select {
		case k := <-stored:
			seen[k] = true
		case <-time.After(60 * time.Second):
			t.Fatalf("the uploads of version 2 did not reach the bucket within 60s (stored: %v)", seen)
		}
	}
	m.kill9()
	proxy.setHook(nil)
	releaseOnce()
	wantStale(t, d.MP)

	m = startMountEnv(t, d, f.env(), append(flags, "--write-back", "1h")...)
	remove(t, filepath.Join(m.MP, "gone.txt"))
	if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
		t.Errorf("flush after the kill: %s", r)
	}
	remove(t, filepath.Join(m.MP, "later.txt"))
	if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
		t.Errorf("flush after deleting later.txt: %s", r)
	}
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	if ops := journalOps(t, m.MP, "--state", "conflict"); len(ops) > 0 {
		t.Errorf("conflicts with nobody but ferry itself: %v", ops)
	}
	m.unmount()
}
