package s3

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// fakeBucket serves a bucket holding keys MinIO refuses to store (".."
// segments, NUL, invalid UTF-8, over-long names), as another S3 server or
// an older MinIO might: HeadBucket, ListObjectsV2 with URL-encoded keys,
// HEAD and GET of objects. Every object holds "x".
func fakeBucket(t *testing.T, keys []string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		key := strings.TrimPrefix(req.URL.Path, "/bucket")
		key = strings.TrimPrefix(key, "/")
		switch {
		case key == "" && req.Method == http.MethodHead:
			return
		case key == "" && req.URL.Query().Get("list-type") == "2":
			listing(w, req.URL.Query(), keys)
		case slices.Contains(keys, key):
			w.Header().Set("ETag", `"`+fmt.Sprint(len(key))+`"`)
			w.Header().Set("Content-Length", "1")
			w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
			w.Header().Set("X-Amz-Meta-Mtime", "1700000000.5")
			if req.Method == http.MethodGet {
				w.Write([]byte("x"))
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// listing writes one ListObjectsV2 page of keys, grouped by delimiter.
func listing(w http.ResponseWriter, q url.Values, keys []string) {
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">`)
	b.WriteString(`<Name>bucket</Name><IsTruncated>false</IsTruncated><EncodingType>url</EncodingType>`)
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.Index(rest, delim); delim != "" && i >= 0 {
			cp := prefix + rest[:i+len(delim)]
			if !seen[cp] {
				seen[cp] = true
				fmt.Fprintf(&b, "<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>", enc(cp))
			}
			continue
		}
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><ETag>&quot;e&quot;</ETag><Size>1</Size>`+
			`<LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>`, enc(k))
	}
	b.WriteString(`</ListBucketResult>`)
	w.Header().Set("Content-Type", "application/xml")
	w.Write(b.Bytes())
}

// enc URL-encodes a key as S3 does for encoding-type=url, except keys
// starting with "RAW:", sent as they are (and undecodable).
func enc(k string) string {
	if raw, ok := strings.CutPrefix(k, "RAW:"); ok {
		return raw
	}
	return url.QueryEscape(k)
}

func TestHostileKeys(t *testing.T) {
	long := strings.Repeat("L", 256)
	keys := []string{
		"ok", "dir/f", ".ferry/trash/x", // shown, shown as dir, hidden
		"a", "a/inside", // a file and a directory of the same name
		"l", "l.rclonelink", // a file and a symlink of the same name
		"../escape", "./dot", "//root", "/abs", "twice//x", "nul\x00name", "bad\xffutf8", long,
		".rclonelink", "RAW:%zz", ".ferry",
	}
	var logs bytes.Buffer
	srv := fakeBucket(t, keys)
	r, err := New(t.Context(), Config{
		Bucket: "bucket", Endpoint: srv.URL, AccessKeyID: "k", SecretAccessKey: "secret-key",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for range 2 { // the second listing logs nothing new
		got := map[string]remote.Entry{}
		err := r.List(t.Context(), "", func(e remote.Entry) error {
			got[e.Path] = e
			return nil
		})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		var names []string
		for p, e := range got {
			if e.Dir {
				p += "/"
			}
			names = append(names, p)
		}
		slices.Sort(names)
		if want := []string{"a/", "dir/", "l", "ok", "twice/"}; !slices.Equal(names, want) {
			t.Errorf("List shows %q, want %q", names, want)
		}
		if e := got["ok"]; e.Size != 1 || e.ModTime.UnixMilli() != 1700000000500 {
			t.Errorf("List entry %+v, want size 1 and the mtime of the metadata", e)
		}
	}
	want := []string{"%zz", ".ferry", ".rclonelink", "../", "./", "/", "a", "bad\xffutf8", "l.rclonelink", long, "nul\x00name"}
	slices.Sort(want)
	got := r.Skipped()
	if !slices.Equal(got, want) {
		t.Errorf("Skipped() = %q, want %q", got, want)
	}
	if n := strings.Count(logs.String(), "skipping"); n != len(got) {
		t.Errorf("%d keys skipped, %d warnings logged:\n%s", len(got), n, logs.String())
	}
	if strings.Contains(logs.String(), "secret-key") {
		t.Error("the log shows the secret key")
	}
}

func putInput(bucket, key, body string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(body)}
}

// TestCollidingKeys checks the collisions MinIO itself can store.
func TestCollidingKeys(t *testing.T) {
	srv := s3test.Start(t)
	r := newTestRemote(t, srv, "")
	c := srv.Client()
	for _, k := range []string{"a/b", "a/b/", "a/c", "a/c.rclonelink", "a/d.rclonelink", "a/d/e"} {
		if _, err := c.PutObject(t.Context(), putInput(r.bucket, k, "target")); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	var got []string
	err := r.List(t.Context(), "a", func(e remote.Entry) error {
		got = append(got, fmt.Sprintf("%s dir=%v link=%q", e.Path, e.Dir, e.Link))
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []string{`a/b dir=true link=""`, `a/c dir=false link=""`, `a/d dir=true link=""`}
	if !slices.Equal(got, want) {
		t.Errorf("List(a) = %q, want %q", got, want)
	}
	if s := r.Skipped(); !slices.Equal(s, []string{"a/b", "a/c.rclonelink", "a/d.rclonelink"}) {
		t.Errorf("Skipped() = %q", s)
	}
}
