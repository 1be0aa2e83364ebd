package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// An s3Proxy sits between one mount and MinIO and notes every request it
// passes on: when, which S3 operation, and for a listing which prefix. It
// counts what rclone sends (rclone has no request counter of its own),
// tells a listing of ferry's change log from a listing of the tree, and
// shows when the polls of an idle mount happen.
//
// It passes the Host header through unchanged, so the client's SigV4
// signature, made for the proxy's address, still holds at MinIO.
type s3Proxy struct {
	endpoint string // http://127.0.0.1:PORT, for the mount's S3 endpoint
	srv      *http.Server
	ln       net.Listener

	mu   sync.Mutex
	reqs []s3Request
}

// An s3Request is one request the proxy passed on.
type s3Request struct {
	at     time.Time
	op     string // the S3 API operation, as in ferry's remote_requests
	prefix string // the prefix of a listing
}

func startS3Proxy(target string) (*s3Proxy, error) {
	to, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &s3Proxy{endpoint: "http://" + ln.Addr().String(), ln: ln}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(to)
			r.Out.Host = r.In.Host // signed by the client
		},
		FlushInterval: -1,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, prefix := classifyS3(r.Method, r.URL.Path, r.URL.Query(), r.Header)
		p.mu.Lock()
		p.reqs = append(p.reqs, s3Request{at: time.Now(), op: op, prefix: prefix})
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the mount's requests then fail, which its cells show
		}
	}()
	return p, nil
}

func (p *s3Proxy) close() { _ = p.srv.Close() }

// since returns the requests passed on at or after t.
func (p *s3Proxy) since(t time.Time) []s3Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []s3Request
	for _, r := range p.reqs {
		if !r.at.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// between returns the requests passed on in [from, to).
func (p *s3Proxy) between(from, to time.Time) []s3Request {
	var out []s3Request
	for _, r := range p.since(from) {
		if r.at.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

// isFerryArea reports whether a listing prefix is inside ferry's own
// .ferry/ (its change log, recycle bin), not the tree.
func isFerryArea(prefix string) bool {
	return prefix == ".ferry" || strings.HasPrefix(prefix, ".ferry/")
}

// countLists counts the listings among reqs: all of them, and those of
// the tree (not of .ferry/).
func countLists(reqs []s3Request) (all, tree int) {
	for _, r := range reqs {
		if r.op != "ListObjectsV2" && r.op != "ListObjects" {
			continue
		}
		all++
		if !isFerryArea(r.prefix) {
			tree++
		}
	}
	return all, tree
}

// bursts counts the groups of requests separated by more than gap: an
// idle mount's polls, each a short burst, a poll interval apart.
func bursts(reqs []s3Request, gap time.Duration) int {
	n := 0
	var last time.Time
	for i, r := range reqs {
		if i == 0 || r.at.Sub(last) > gap {
			n++
		}
		last = r.at
	}
	return n
}

// classifyS3 names the S3 operation of a path-style request the way the
// AWS SDK does, and returns a listing's prefix.
func classifyS3(method, path string, q url.Values, h http.Header) (op, prefix string) {
	bucketOnly := !strings.Contains(strings.Trim(path, "/"), "/")
	has := func(k string) bool { _, ok := q[k]; return ok }
	switch method {
	case http.MethodGet:
		switch {
		case bucketOnly && q.Get("list-type") == "2":
			return "ListObjectsV2", q.Get("prefix")
		case bucketOnly && has("uploads"):
			return "ListMultipartUploads", q.Get("prefix")
		case bucketOnly && has("versions"):
			return "ListObjectVersions", q.Get("prefix")
		case bucketOnly && has("location"):
			return "GetBucketLocation", ""
		case bucketOnly && onlyListParams(q):
			return "ListObjects", q.Get("prefix")
		case bucketOnly:
			return "GetBucket?" + q.Encode(), "" // a subresource the bench does not name
		case has("uploadId"):
			return "ListParts", ""
		default:
			return "GetObject", ""
		}
	case http.MethodHead:
		if bucketOnly {
			return "HeadBucket", ""
		}
		return "HeadObject", ""
	case http.MethodPut:
		switch {
		case bucketOnly:
			return "CreateBucket", ""
		case has("uploadId") && h.Get("X-Amz-Copy-Source") != "":
			return "UploadPartCopy", ""
		case has("uploadId"):
			return "UploadPart", ""
		case h.Get("X-Amz-Copy-Source") != "":
			return "CopyObject", ""
		default:
			return "PutObject", ""
		}
	case http.MethodPost:
		switch {
		case has("delete"):
			return "DeleteObjects", ""
		case has("uploads"):
			return "CreateMultipartUpload", ""
		case has("uploadId"):
			return "CompleteMultipartUpload", ""
		}
	case http.MethodDelete:
		switch {
		case has("uploadId"):
			return "AbortMultipartUpload", ""
		case bucketOnly:
			return "DeleteBucket", ""
		default:
			return "DeleteObject", ""
		}
	}
	return method + " " + path, ""
}

// onlyListParams reports whether a bucket GET has nothing but the
// parameters of a version 1 listing.
func onlyListParams(q url.Values) bool {
	for k := range q {
		switch k {
		case "prefix", "delimiter", "marker", "max-keys", "encoding-type":
		default:
			return false
		}
	}
	return true
}

// describeRequests sums requests up by operation, and listings by
// operation and prefix, for the log.
func describeRequests(reqs []s3Request) map[string]int {
	out := map[string]int{}
	for _, r := range reqs {
		k := r.op
		if strings.HasPrefix(r.op, "List") {
			k += " prefix=" + strconv.Quote(r.prefix)
		}
		out[k]++
	}
	return out
}
