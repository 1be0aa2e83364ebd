package main

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestE2ES3StaleTombstone: device A deletes a file and loses the bucket
// between the tombstone its delete puts at the key and the request that
// deletes the tombstone (every DELETE of the key fails, as if A went
// offline or crashed there). Device B then writes the file. A tombstone
// older than the bound no longer holds B's writes back: B's proxy makes
// the tombstone's Last-Modified three minutes old, B takes the key over
// and its flush succeeds. When A is back, its retried delete finds B's
// version, not its own tombstone: a conflict, and B's version comes back to
// A. Nothing is lost: the recycle bin holds what A deleted.
func TestE2ES3StaleTombstone(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	pa, pb := newRecordingProxy(t, f.srv.Endpoint), newRecordingProxy(t, f.srv.Endpoint)
	flags := []string{"--write-back", "100ms", "--poll-interval", "1s", "--rescan-interval", "0"}
	a := startMountEnv(t, f.dirs(t), f.env(), append(flags, "--s3-endpoint", pa.URL, "--device-name", "devA")...)
	b := startMountEnv(t, f.dirs(t), f.env(), append(flags, "--s3-endpoint", pb.URL, "--device-name", "devB")...)
	const (
		name   = "notes.txt"
		first  = "A's version, which A deletes\n"
		theirs = "B's version, written over the tombstone\n"
	)
	atA, atB := filepath.Join(a.MP, name), filepath.Join(b.MP, name)
	writeFile(t, atA, []byte(first))
	a.flush()
	eventually(t, 30*time.Second, "B never sees A's file", contentIs(atB, first))

	path := "/" + f.bucket + "/" + name
	var cut atomic.Bool
	cut.Store(true)
	stuck := make(chan struct{})
	stuckOnce := sync.OnceFunc(func() { close(stuck) })
	pa.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		if r.Method != http.MethodDelete || r.URL.Path != path || !cut.Load() {
			return false
		}
		stuckOnce()
		http.Error(w, "A is offline", http.StatusServiceUnavailable)
		return true
	})
	pb.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		if r.Method != http.MethodHead || r.URL.Path != path {
			return false
		}
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		h := rec.Header()
		if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil && h.Get("X-Amz-Meta-Ferry-Deleting") != "" {
			h.Set("Last-Modified", lm.Add(-3*time.Minute).UTC().Format(http.TimeFormat))
		}
		maps.Copy(w.Header(), h)
		w.WriteHeader(rec.Code)
		return true
	})

	day := utcDay()
	remove(t, atA)
	select {
	case <-stuck:
	case <-time.After(60 * time.Second):
		t.Fatal("A's delete never came to the delete of its tombstone")
	}
	_, o, err := f.getObject(ctxFor(t, time.Minute), name)
	if err != nil || o.Metadata["ferry-deleting"] == "" {
		t.Fatalf("A's delete left no tombstone at %s: %v, %v", name, err, o)
	}

	writeFile(t, atB, []byte(theirs))
	b.flush() // before: B's upload failed, and was retried, for as long as the tombstone stood
	if !f.objectIs(t, name, theirs) {
		t.Fatalf("after B's flush, the bucket does not hold B's version at %s", name)
	}

	cut.Store(false) // A is back
	a.flush()
	eventually(t, 60*time.Second, "B's version never comes back to A", contentIs(atA, theirs))
	if !f.objectIs(t, name, theirs) {
		t.Errorf("A's retried delete did not leave B's version at %s", name)
	}
	if !f.objectIs(t, ".ferry/trash/"+day+"/"+name, first) && !f.objectIs(t, ".ferry/trash/"+utcDay()+"/"+name, first) {
		t.Errorf("the recycle bin does not hold A's version: %q", f.keys(t, ""))
	}
	if c := contentIs(atB, theirs); !c() {
		t.Errorf("B no longer shows its version")
	}
}
