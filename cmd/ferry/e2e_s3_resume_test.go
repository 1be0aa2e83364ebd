package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// s3Request is one request a recordingProxy forwarded.
type s3Request struct {
	method, path   string
	uploadID, part string // from the query, "" if absent
}

func (r s3Request) String() string {
	return fmt.Sprintf("%s %s uploadId=%s partNumber=%s", r.method, r.path, r.uploadID, r.part)
}

// recordingProxy sits between ferry and MinIO and records every request.
// A hook can take over requests: hold them, fail them, or forward them
// and hold the answer.
type recordingProxy struct {
	URL string

	mu   sync.Mutex // guards the fields below
	reqs []s3Request
	// hook, when set, sees each request first; it returns true when it
	// answered the request itself, with forward or not.
	hook func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool
}

func (p *recordingProxy) setHook(h func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool) {
	p.mu.Lock()
	p.hook = h
	p.mu.Unlock()
}

func newRecordingProxy(t testing.TB, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // signed by the client (SigV4)
	}, ErrorLog: log.New(io.Discard, "", 0)} // requests cut by the kill
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := s3Request{method: r.Method, path: r.URL.Path, uploadID: q.Get("uploadId"), part: q.Get("partNumber")}
		p.mu.Lock()
		p.reqs = append(p.reqs, req)
		hook := p.hook
		p.mu.Unlock()
		if hook != nil && hook(w, r, rp) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// since returns the requests recorded from index i on, and the next index.
func (p *recordingProxy) since(i int) ([]s3Request, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]s3Request(nil), p.reqs[i:]...), len(p.reqs)
}

// TestE2ES3ResumeLargeUpload: a 60 MiB file goes up in 8 parts; ferry
// is killed with SIGKILL once 2 parts are done and the others are held
// back; the next mount on the same cache dir continues the same multipart
// upload instead of starting over, the object ends up byte for byte the
// file, and no unfinished upload is left.
func TestE2ES3ResumeLargeUpload(t *testing.T) {
	t.Parallel()
	f := newS3(t)
	proxy := newRecordingProxy(t, f.srv.Endpoint)
	const partsFirst = 2
	var mu sync.Mutex // guards sent
	sent := 0
	delivered := make(chan struct{}, partsFirst)
	// Held requests end when ferry dies or, at the latest, with the test.
	// (A server notices a client gone only once the body is read.)
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce)
	proxy.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		q := r.URL.Query()
		if r.Method != http.MethodPut || !q.Has("partNumber") || !q.Has("uploadId") {
			return false
		}
		mu.Lock()
		sent++
		n := sent
		mu.Unlock()
		if n > partsFirst {
			select { // held until ferry dies
			case <-r.Context().Done():
			case <-release:
			}
			return true
		}
		forward.ServeHTTP(w, r)
		delivered <- struct{}{}
		return true
	})
	d := f.dirs(t)
	flags := []string{"--s3-endpoint", proxy.URL, "--write-back", "0s", "--s3-upload-cutoff", strconv.Itoa(5 << 20)}
	m := startMountEnv(t, d, f.env(), flags...)

	data := randomBytes(rand.New(rand.NewPCG(5, 5)), 60<<20)
	writeFile(t, filepath.Join(m.MP, "large.bin"), data)
	for range partsFirst {
		select {
		case <-delivered:
		case <-time.After(90 * time.Second):
			t.Fatalf("fewer than %d parts of large.bin uploaded within 90s; status %+v", partsFirst, ferryStatus(t, m.MP))
		}
	}
	// The other parts wait forever: give ferry a moment to record the
	// two it got answers for, then kill it.
	time.Sleep(time.Second)
	m.kill9()
	proxy.setHook(nil)
	releaseOnce()
	wantStale(t, d.MP)

	ctx := ctxFor(t, 2*time.Minute)
	ups, err := f.srv.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &f.bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 1 || deref(ups.Uploads[0].Key) != "large.bin" {
		t.Fatalf("after the kill: multipart uploads %+v, want one of large.bin", ups.Uploads)
	}
	uploadID := deref(ups.Uploads[0].UploadId)
	parts, err := f.srv.Client().ListParts(ctx, &s3.ListPartsInput{Bucket: &f.bucket, Key: ups.Uploads[0].Key, UploadId: &uploadID})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts.Parts) != partsFirst {
		t.Fatalf("after the kill: %d parts on the server, want %d", len(parts.Parts), partsFirst)
	}
	if keys := f.keys(t, ""); len(keys) != 0 {
		t.Fatalf("after the kill: the bucket holds %q, want nothing yet", keys)
	}

	_, mark := proxy.since(0)
	m = startMountEnv(t, d, f.env(), flags...)
	m.flush()
	after, _ := proxy.since(mark)

	got, out, err := f.getObject(ctx, "large.bin")
	switch {
	case err != nil:
		t.Fatalf("get large.bin: %v", err)
	case !bytes.Equal(got, data):
		t.Errorf("large.bin in the bucket: %d bytes sha256 %.12s, want %d bytes sha256 %.12s", len(got), hashBytes(got), len(data), hashBytes(data))
	case !strings.HasSuffix(deref(out.ETag), "-8\""):
		t.Errorf("large.bin has ETag %s: not an upload of 8 parts", deref(out.ETag))
	}
	f.compareBucket(t, m.MP, "", compareOpts{perm: true, fileMtimes: true})
	if ups := f.multipartUploads(t); len(ups) > 0 {
		t.Errorf("unfinished multipart uploads left in the bucket: %q", ups)
	}

	// What the second mount sent: the missing parts of the same upload,
	// and its completion.
	const total = 8 // 60 MiB in parts of 8 MiB
	partPuts, completed := 0, false
	for _, r := range after {
		if r.uploadID == "" {
			continue
		}
		if r.uploadID != uploadID {
			t.Errorf("after the remount: %s, for another upload than the one interrupted (%s)", r, uploadID)
		}
		if r.method == http.MethodPut && r.part != "" {
			partPuts++
		}
		if r.method == http.MethodPost {
			completed = true
		}
	}
	if !completed {
		t.Errorf("after the remount, no request completed upload %s: %q", uploadID, after)
	}
	if partPuts != total-partsFirst {
		t.Errorf("after the remount, %d part uploads, want the %d missing of %d", partPuts, total-partsFirst, total)
	}
	m.unmount()
}
