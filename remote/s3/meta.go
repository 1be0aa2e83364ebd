package s3

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/ferry-fs/ferry/remote"
)

// User metadata keys (x-amz-meta-*), as rclone names them.
//
//   - mtime: rclone's S3 backend (metaMtime in backend/s3/s3.go) stores the
//     modification time as seconds since the Unix epoch in fixed-point
//     decimal with up to nine fractional digits and trailing zeros dropped,
//     e.g. "1614834367.25" (swift.TimeToFloatString of github.com/ncw/swift).
//   - mode, uid, gid: rclone's metadata (backend/local/metadata.go, the
//     keys "rclone copy --metadata" stores as user metadata on S3): mode is
//     the Unix st_mode, file type included, in octal ("100644"), uid and
//     gid are decimal.
//   - blake3: ferry's hash of the content, lower-case hex.
const (
	metaMtime = "mtime"
	metaMode  = "mode"
	metaUID   = "uid"
	metaGID   = "gid"
	metaHash  = "blake3"
	// metaTombstone marks the tombstone that a conditional delete puts
	// over the version it deletes, just before deleting it (see Delete).
	// Its value is the ETag deleted; ferry treats such an object as absent.
	metaTombstone = "ferry-deleting"
	// metaTombstoneBy names the device whose delete put the tombstone
	// (see SetDevice), so that it knows its own after a restart.
	metaTombstoneBy = "ferry-deleting-by"
)

// File type bits of a Unix st_mode.
const (
	sIFMT  = 0o170000
	sIFDIR = 0o040000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// formatMtime renders t the way rclone writes x-amz-meta-mtime. The
// nanosecond count limits t to the years 1678 to 2262.
func formatMtime(t time.Time) string {
	ns := t.UnixNano()
	if ns < 0 {
		return "-" + formatMtime(time.Unix(0, -ns))
	}
	s := fmt.Sprintf("%010d", ns)
	sec, frac := s[:len(s)-9], strings.TrimRight(s[len(s)-9:], "0")
	if frac == "" {
		return sec
	}
	return sec + "." + frac
}

// parseMtime reads x-amz-meta-mtime as rclone does: decimal seconds, digits
// past the ninth fractional one ignored.
func parseMtime(s string) (time.Time, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || whole == "-" || (dot && frac == "") {
		return time.Time{}, fmt.Errorf("mtime %q is not decimal seconds", s)
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("mtime %q is not decimal seconds", s)
	}
	return time.Unix(0, ns), nil
}

// formatMode renders the permission bits of m with the file type typ as an
// octal st_mode.
func formatMode(m fs.FileMode, typ uint32) string {
	u := typ | uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return strconv.FormatUint(uint64(u), 8)
}

// parseMode returns the permission bits of an octal st_mode, or 0.
func parseMode(s string) fs.FileMode {
	u, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0
	}
	m := fs.FileMode(u & 0o777)
	if u&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if u&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if u&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// userMeta is the metadata Put stores for meta on an object of type typ.
// Missing values get the defaults a fresh local file would have.
func userMeta(meta remote.Meta, typ uint32) map[string]string {
	mtime := meta.ModTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	mode := meta.Mode
	if mode.Perm() == 0 {
		switch typ {
		case sIFLNK:
			mode |= 0o777
		case sIFDIR:
			mode |= 0o755
		default:
			mode |= 0o644
		}
	}
	md := map[string]string{
		metaMtime: formatMtime(mtime),
		metaMode:  formatMode(mode, typ),
		metaUID:   strconv.FormatUint(uint64(meta.UID), 10),
		metaGID:   strconv.FormatUint(uint64(meta.GID), 10),
	}
	if meta.Hash != "" && typ == sIFREG {
		md[metaHash] = meta.Hash
	}
	return md
}

// checkHash accepts the lower-case hex encoding of a hash.
func checkHash(h string) error {
	if len(h) == 0 || len(h) > 128 {
		return fmt.Errorf("hash of %d characters", len(h))
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("hash is not lower-case hex")
		}
	}
	return nil
}

// object is what a HEAD or GET says about an object.
type object struct {
	size    int64
	lastMod time.Time
	etag    string
	meta    map[string]string // user metadata, lower-case keys
	header  headers           // kept across metadata rewrites
	full    bool              // read with HEAD or GET, not from a listing
	date    time.Time         // the server's clock when it answered, if it said
}

// headers are the standard headers a copy with new metadata must send
// again, and the storage settings it keeps unless Config sets its own.
type headers struct {
	contentType, cacheControl, contentEncoding, contentDisposition, contentLanguage *string

	storageClass types.StorageClass
	sse          types.ServerSideEncryption
	kmsKeyID     *string
}

func objectOfHead(h *s3.HeadObjectOutput) object {
	return object{
		size: deref(h.ContentLength), lastMod: deref(h.LastModified), etag: deref(h.ETag), meta: h.Metadata,
		header: headers{h.ContentType, h.CacheControl, h.ContentEncoding, h.ContentDisposition, h.ContentLanguage,
			h.StorageClass, h.ServerSideEncryption, h.SSEKMSKeyId},
		full: true,
		date: serverTime(h.ResultMetadata),
	}
}

func objectOfGet(g *s3.GetObjectOutput) object {
	return object{
		size: deref(g.ContentLength), lastMod: deref(g.LastModified), etag: deref(g.ETag), meta: g.Metadata,
		header: headers{g.ContentType, g.CacheControl, g.ContentEncoding, g.ContentDisposition, g.ContentLanguage,
			g.StorageClass, g.ServerSideEncryption, g.SSEKMSKeyId},
		full: true,
		date: serverTime(g.ResultMetadata),
	}
}

// serverTime is the Date of the response that md describes, or zero.
func serverTime(md middleware.Metadata) time.Time {
	t, _ := awsmiddleware.GetServerTime(md)
	return t
}

// age is how long ago o was written, by the server's clock, which also set
// its Last-Modified: the clocks of the devices do not matter. Without a
// Date from the server it is 0: no device's clock stands in.
func (o object) age() time.Duration {
	if o.date.IsZero() {
		return 0
	}
	return o.date.Sub(o.lastMod)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// modTime returns the modification time recorded by rclone or ferry, or
// the server's LastModified.
func (o object) modTime() time.Time {
	if s, ok := o.meta[metaMtime]; ok {
		if t, err := parseMtime(s); err == nil {
			return t
		}
	}
	return o.lastMod
}

// fileEntry describes the regular file at p stored as o.
func fileEntry(p string, o object) remote.Entry {
	e := remote.Entry{
		Path:    p,
		Size:    o.size,
		ModTime: o.modTime(),
		Mode:    parseMode(o.meta[metaMode]),
		Version: o.etag,
	}
	if h := o.meta[metaHash]; checkHash(h) == nil {
		e.Hash = h
	}
	return e
}

// linkEntry describes the symlink at p to target, stored as o.
func linkEntry(p string, o object, target string) remote.Entry {
	return remote.Entry{
		Path:    p,
		ModTime: o.modTime(),
		Mode:    fs.ModeSymlink | 0o777,
		Link:    target,
		Version: o.etag,
	}
}

// dirEntry describes the directory at p, with the metadata of its marker
// when it has one.
func dirEntry(p string, marker *object) remote.Entry {
	e := remote.Entry{Path: p, Dir: true, Mode: fs.ModeDir}
	if marker != nil {
		e.ModTime = marker.modTime()
		e.Mode |= parseMode(marker.meta[metaMode])
		e.Version = marker.etag
	}
	return e
}

// modeType returns the file type bits of an octal st_mode, or 0.
func modeType(s string) uint32 {
	u, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0
	}
	return uint32(u) & sIFMT
}
