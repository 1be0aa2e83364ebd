package s3

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferry-fs/ferry/remote"
)

// listed is an object as a listing describes it.
type listed struct {
	key     string
	size    int64
	etag    string
	lastMod time.Time
}

// page is one page of ListObjectsV2, keys decoded.
type page struct {
	objects  []listed
	prefixes []string // common prefixes, with the delimiter
	next     *string  // continuation token; nil on the last page
}

// query is one ListObjectsV2 request.
type query struct {
	prefix     string  // keys starting with this
	delim      string  // grouped by this, unless ""
	startAfter string  // keys after this, unless ""
	max        int32   // at most this many (0: the server's page size)
	token      *string // the page after this continuation token (nil: the first)
}

// listPage returns the page after token (nil: the first) of the keys
// starting with prefix, grouped by delim unless it is "", at most max keys
// (0: the server's page size).
func (r *Remote) listPage(ctx context.Context, op, prefix, delim string, max int32, token *string) (page, error) {
	return r.list(ctx, op, query{prefix: prefix, delim: delim, max: max, token: token})
}

// list returns one page of the listing q. Keys come URL-encoded, because
// XML 1.0 cannot carry every character a key may hold; one that does not
// decode, or does not start with the prefix, is skipped.
func (r *Remote) list(ctx context.Context, op string, q query) (page, error) {
	in := &s3.ListObjectsV2Input{
		Bucket: &r.bucket, Prefix: &q.prefix, ContinuationToken: q.token,
		EncodingType: types.EncodingTypeUrl,
	}
	if q.delim != "" {
		in.Delimiter = &q.delim
	}
	if q.startAfter != "" {
		in.StartAfter = &q.startAfter
	}
	if q.max > 0 {
		in.MaxKeys = aws.Int32(q.max)
	}
	out, err := r.client.ListObjectsV2(ctx, in)
	if err != nil {
		return page{}, fail(ctx, op, q.prefix, err)
	}
	encoded := out.EncodingType == types.EncodingTypeUrl
	var p page
	for _, c := range out.Contents {
		if key, ok := r.decodeKey(deref(c.Key), q.prefix, encoded); ok {
			p.objects = append(p.objects, listed{key: key, size: deref(c.Size), etag: deref(c.ETag), lastMod: deref(c.LastModified)})
		}
	}
	for _, cp := range out.CommonPrefixes {
		if key, ok := r.decodeKey(deref(cp.Prefix), q.prefix, encoded); ok {
			p.prefixes = append(p.prefixes, key)
		}
	}
	if deref(out.IsTruncated) {
		p.next = out.NextContinuationToken
	}
	return p, nil
}

// decodeKey decodes a listed key and checks that it starts with prefix.
func (r *Remote) decodeKey(raw, prefix string, encoded bool) (string, bool) {
	key := raw
	if encoded {
		var err error
		if key, err = url.QueryUnescape(raw); err != nil {
			r.skip(raw, "the server sent an undecodable key")
			return "", false
		}
	}
	if !strings.HasPrefix(key, prefix) {
		r.skip(key, "the server listed a key outside the prefix")
		return "", false
	}
	return key, true
}

// listAll returns every object whose key starts with prefix.
func (r *Remote) listAll(ctx context.Context, op, prefix string) ([]listed, error) {
	var objs []listed
	var token *string
	for {
		p, err := r.listPage(ctx, op, prefix, "", 0, token)
		if err != nil {
			return nil, err
		}
		objs = append(objs, p.objects...)
		if token = p.next; token == nil {
			return objs, nil
		}
	}
}

// keepParent makes sure the parent directory of p outlives the removal of
// p, as it would on a filesystem: when p (a file, symlink or directory) is
// all its parent holds, the parent gets a marker first. It reports whether
// anything exists at p, so a delete of nothing can skip its requests.
func (r *Remote) keepParent(ctx context.Context, op, p string) (bool, error) {
	parent := ""
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		parent = p[:i]
	}
	self := map[string]bool{r.key(p): true, r.dirKey(p): true}
	if lk := r.linkKey(p); lk != "" {
		self[lk] = true
	}
	// Four entries are enough: p's three keys and one other.
	pg, err := r.listPage(ctx, op, r.dirKey(parent), "/", 4, nil)
	if err != nil {
		return false, err
	}
	exists, others := false, pg.next != nil
	for _, o := range pg.objects {
		if self[o.key] {
			exists = true
		} else {
			others = true // another child, or the parent's own marker
		}
	}
	for _, cp := range pg.prefixes {
		if self[cp] {
			exists = true
		} else {
			others = true
		}
	}
	if !exists || others || parent == "" {
		// A truncated listing may not have reached p: assume it exists.
		return exists || others, nil
	}
	_, err = r.putObject(ctx, op, r.dirKey(parent), nil, userMeta(remote.Meta{}, sIFDIR), remote.Cond{IfNoneMatch: true})
	if errors.Is(err, remote.ErrPrecondition) {
		err = nil // made meanwhile
	}
	return true, err
}
