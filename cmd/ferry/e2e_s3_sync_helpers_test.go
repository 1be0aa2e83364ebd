package main

// Helpers of the two-way sync tests (e2e_s3_trash_test.go,
// e2e_s3_massdelete_test.go, e2e_s3_foreign_test.go, ...): objects put and
// deleted behind ferry's back, the recycle bin as `ferry trash ls` prints
// it, and a TCP proxy that takes one device offline while the others stay
// online.

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// putObject stores body under key with the plain S3 API, as another tool
// would: no ferry metadata.
func (f *s3Fixture) putObject(t testing.TB, key, body string) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	if _, err := f.srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

// tryPutObject is putObject that returns the server's refusal instead of
// failing the test.
func (f *s3Fixture) tryPutObject(ctx context.Context, key, body string) error {
	_, err := f.srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: strings.NewReader(body)})
	return err
}

// deleteObject deletes key with the plain S3 API.
func (f *s3Fixture) deleteObject(t testing.TB, key string) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	if _, err := f.srv.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &f.bucket, Key: &key}); err != nil {
		t.Fatalf("delete %q: %v", key, err)
	}
}

// putObjects stores every key -> body of objs, with parallel workers.
func (f *s3Fixture) putObjects(t testing.TB, objs map[string]string, workers int) {
	t.Helper()
	ctx := ctxFor(t, 5*time.Minute)
	c := f.srv.Client()
	work := make(chan string)
	var mu sync.Mutex // guards firstErr
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range work {
				body := objs[key]
				var err error
				for attempt := range 3 { // MinIO under a burst may answer 503 SlowDown
					_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: strings.NewReader(body)})
					if err == nil || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = errors.New("put " + key + ": " + err.Error())
					}
					mu.Unlock()
				}
			}
		}()
	}
	for k := range objs {
		work <- k
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

// hasKey reports whether the bucket holds exactly key.
func (f *s3Fixture) hasKey(t testing.TB, key string) bool {
	t.Helper()
	for _, k := range f.keys(t, key) {
		if k == key {
			return true
		}
	}
	return false
}

// objectIs reports whether the object key exists and holds want.
func (f *s3Fixture) objectIs(t testing.TB, key, want string) bool {
	t.Helper()
	b, _, err := f.getObject(ctxFor(t, time.Minute), key)
	return err == nil && string(b) == want
}

// utcDay is today's date as ferry names the recycle bin's folders.
func utcDay() string { return time.Now().UTC().Format("2006-01-02") }

// trashEntry is one line of `ferry trash ls`.
type trashEntry struct {
	Date string
	Size int64
	Path string
}

// trashLs runs `ferry trash ls mp` and parses its table.
func trashLs(t testing.TB, mp string) []trashEntry {
	t.Helper()
	r := mustFerry(t, 30*time.Second, "trash", "ls", mp)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "DELETED") {
		t.Fatalf("ferry trash ls: no header line:\n%s", r)
	}
	var out []trashEntry
	for _, l := range lines[1:] {
		fields := strings.Fields(l)
		if len(fields) < 3 {
			t.Fatalf("ferry trash ls: bad line %q:\n%s", l, r)
		}
		size, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			t.Fatalf("ferry trash ls: bad size in %q:\n%s", l, r)
		}
		// The path is the rest of the line after the size column.
		rest := strings.TrimLeft(strings.TrimPrefix(strings.TrimLeft(strings.TrimPrefix(l, fields[0]), " "), fields[1]), " ")
		out = append(out, trashEntry{Date: fields[0], Size: size, Path: rest})
	}
	return out
}

// findTrash returns the entries of ls for path p.
func findTrash(ls []trashEntry, p string) []trashEntry {
	var out []trashEntry
	for _, e := range ls {
		if e.Path == p {
			out = append(out, e)
		}
	}
	return out
}

// tcpProxy forwards TCP connections from a local port to target. down
// closes the listener and cuts every open connection, so that a client
// sees its server go away (connection refused) while the server, and
// every other client of it, stays up; up listens on the same port again.
type tcpProxy struct {
	t      testing.TB
	target string
	addr   string // 127.0.0.1:PORT, the same across down and up

	mu    sync.Mutex
	l     net.Listener // nil while down
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// newTCPProxy starts a proxy to target ("host:port", or an http:// URL).
func newTCPProxy(t testing.TB, target string) *tcpProxy {
	t.Helper()
	target = strings.TrimPrefix(target, "http://")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{t: t, target: target, addr: l.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(l)
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

// URL is the proxy as an S3 endpoint.
func (p *tcpProxy) URL() string { return "http://" + p.addr }

func (p *tcpProxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

// track adds c to the open connections, or reports false when the proxy
// is down.
func (p *tcpProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *tcpProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *tcpProxy) pipe(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(s) {
		s.Close()
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, c); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done // either side closed: end both
}

// down stops accepting and cuts the open connections.
func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		return
	}
	p.l.Close()
	p.l = nil
	for c := range p.conns {
		c.Close()
	}
}

// up listens on the same port again.
func (p *tcpProxy) up() {
	p.t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port may linger a moment after the close
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
	}
	p.serve(l)
}

// regularFiles lists the regular files below root (relative, slash
// separated) with their sizes.
func regularFiles(t testing.TB, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if de.Type().IsRegular() {
			fi, err := de.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
