package main

// A proxy in front of MinIO that adds keys to its ListObjectsV2 answers:
// keys MinIO refuses to store ("..", NUL, invalid UTF-8, over-long names)
// but another S3 server, or an older MinIO, may list.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// listBucketResult is the part of a ListObjectsV2 answer that the proxy
// rewrites; the rest is dropped.
type listBucketResult struct {
	XMLName               xml.Name       `xml:"ListBucketResult"`
	Xmlns                 string         `xml:"xmlns,attr,omitempty"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	Contents              []listContent  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type listContent struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass,omitempty"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

// s3KeyEscape URL-encodes every byte of a key but unreserved ones and
// "/", which url.QueryUnescape (and any S3 client) decodes back.
func s3KeyEscape(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// newListInjector starts a proxy to target whose first-page listings also
// hold keys (each a 1-byte object): in byte order, grouped by the
// request's delimiter, after its start-after. Listings of more than one
// page are left alone: the tests' buckets are small.
func newListInjector(t testing.TB, target string, keys []string) *recordingProxy {
	t.Helper()
	p := newRecordingProxy(t, target)
	p.setHook(func(w http.ResponseWriter, r *http.Request, forward http.Handler) bool {
		q := r.URL.Query()
		if r.Method != http.MethodGet || q.Get("list-type") != "2" || strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 {
			return false
		}
		rec := httptest.NewRecorder()
		forward.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK && q.Get("continuation-token") == "" {
			if out, err := injectKeys(body, keys, q); err != nil {
				t.Errorf("list injector: %v", err)
			} else {
				body = out
			}
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body)
		return true
	})
	return p
}

func injectKeys(body []byte, keys []string, q url.Values) ([]byte, error) {
	var res listBucketResult
	if err := xml.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("parse listing: %v\n%s", err, body)
	}
	if res.IsTruncated {
		return body, nil
	}
	encoded := res.EncodingType == "url"
	decode := func(s string) string {
		if !encoded {
			return s
		}
		d, err := url.QueryUnescape(s)
		if err != nil {
			return s
		}
		return d
	}
	prefix, delim, after := q.Get("prefix"), q.Get("delimiter"), q.Get("start-after")
	contents := map[string]listContent{}
	for _, c := range res.Contents {
		c.Key = decode(c.Key)
		contents[c.Key] = c
	}
	prefixes := map[string]bool{}
	for _, cp := range res.CommonPrefixes {
		prefixes[decode(cp.Prefix)] = true
	}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || (after != "" && k <= after) {
			continue
		}
		if i := strings.Index(rest, delim); delim != "" && i >= 0 {
			prefixes[prefix+rest[:i+len(delim)]] = true
			continue
		}
		if _, dup := contents[k]; !dup {
			contents[k] = listContent{Key: k, LastModified: "2024-01-01T00:00:00.000Z", ETag: `"` + strconv.Itoa(len(k)) + `"`, Size: 1, StorageClass: "STANDARD"}
		}
	}
	enc := func(s string) string {
		if encoded {
			return s3KeyEscape(s)
		}
		return s
	}
	res.Contents, res.CommonPrefixes = nil, nil
	for _, k := range slices.Sorted(maps.Keys(contents)) {
		c := contents[k]
		c.Key = enc(k)
		res.Contents = append(res.Contents, c)
	}
	for _, p := range slices.Sorted(maps.Keys(prefixes)) {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(p)})
	}
	res.KeyCount = len(res.Contents) + len(res.CommonPrefixes)
	res.Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
	out, err := xml.Marshal(res)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), bytes.TrimSpace(out)...), nil
}
