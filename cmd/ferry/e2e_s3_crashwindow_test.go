package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2ES3KillAfterPutBeforeRecord places a kill -9 deterministically in
// the window TestE2ES3CrashRemount hits by chance: the server has stored
// an upload of ferry's, but ferry dies before it reads the answer, so the
// journal does not know the object's new ETag. After the remount, ferry's
// own upload must not turn its next conditional write into a conflict:
// replaying the upload, or deleting the file, must reach the bucket and
// flush must succeed.
func TestE2ES3KillAfterPutBeforeRecord(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	proxy := newRecordingProxy(t, f.srv.Endpoint)
	d := f.dirs(t)
	flags := []string{"--s3-endpoint", proxy.URL, "--write-back", "0s"}
	m := startMountEnv(t, d, f.env(), flags...)
	writeFile(t, filepath.Join(m.MP, "kept.txt"), []byte("kept, version 1\n"))
	writeFile(t, filepath.Join(m.MP, "gone.txt"), []byte("gone, version 1\n"))
	m.flush()

	// The next uploads of both files reach the bucket; their answers never
	// reach ferry.
	stored := make(chan string, 10)
	proxy.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		key := strings.TrimPrefix(r.URL.Path, "/"+f.bucket+"/")
		if r.Method != http.MethodPut || (key != "kept.txt" && key != "gone.txt") || r.URL.Query().Has("uploadId") {
			return false
		}
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			stored <- key
		}
		<-r.Context().Done() // until ferry dies
		return true
	})
	writeFile(t, filepath.Join(m.MP, "kept.txt"), []byte("kept, version 2\n"))
	writeFile(t, filepath.Join(m.MP, "gone.txt"), []byte("gone, version 2\n"))
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case k := <-stored:
			seen[k] = true
		case <-time.After(60 * time.Second):
			t.Fatalf("the uploads of version 2 did not reach the bucket within 60s (stored: %v)", seen)
		}
	}
	m.kill9()
	proxy.setHook(nil)
	wantStale(t, d.MP)

	m = startMountEnv(t, d, f.env(), flags...)
	if err := os.Remove(filepath.Join(m.MP, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	if r := ferry(t, 3*time.Minute, "flush", m.MP, "--timeout", "150s"); r.code != 0 {
		t.Errorf("flush after the kill: %s", r)
	}
	if diff := f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true}); len(diff) > 0 {
		logJournal(t, m.MP, diff)
	}
	if ops := journalOps(t, m.MP, "--state", "conflict"); len(ops) > 0 {
		t.Errorf("conflicts with nobody but ferry itself: %v", ops)
	}
	m.unmount()
}
