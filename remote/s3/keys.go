package s3

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

const (
	// linkSuffix ends the key of a symlink, whose content is the target:
	// rclone's --links convention.
	linkSuffix = ".rclonelink"
	// ferryDir is the top-level name under which ferry keeps its own
	// objects (the trash of conditional deletes). List hides it.
	ferryDir = ".ferry"
	// maxSegment is the longest name, in bytes, a mounted filesystem takes.
	maxSegment = 255
)

// checkPath reports why p is not a path this backend accepts, or nil. The
// root "" is valid only when allowRoot is set.
func checkPath(p string, allowRoot bool) error {
	if p == "" {
		if allowRoot {
			return nil
		}
		return errors.New("empty path")
	}
	if err := checkSegments(p); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(p, "/"); first == ferryDir {
		return fmt.Errorf("the top-level name %q is reserved", ferryDir)
	}
	if strings.HasSuffix(p, linkSuffix) {
		return fmt.Errorf("names ending in %q are reserved for symlinks", linkSuffix)
	}
	return nil
}

// checkSegments reports why p is not a clean relative slash-separated path
// of names a filesystem can hold, or nil.
func checkSegments(p string) error {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("path contains NUL")
	case !utf8.ValidString(p):
		return errors.New("path is not valid UTF-8")
	case p[0] == '/':
		return errors.New("path is absolute")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if err := checkName(seg); err != nil {
			return fmt.Errorf("path %w", err)
		}
	}
	return nil
}

// checkName reports why name cannot be one segment of a path, or nil.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("has an empty segment")
	case name == "." || name == "..":
		return fmt.Errorf("has a %q segment", name)
	case len(name) > maxSegment:
		return fmt.Errorf("segment is %d bytes, longer than %d", len(name), maxSegment)
	case strings.IndexByte(name, 0) >= 0:
		return errors.New("contains NUL")
	case !utf8.ValidString(name):
		return errors.New("is not valid UTF-8")
	}
	return nil
}

// join returns the path of the child name of dir.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// key returns the object key of the file at p.
func (r *Remote) key(p string) string { return r.prefix + p }

// linkKey returns the object key of the symlink at p, or "" when its name
// with the suffix would be too long for a segment or a key: no symlink can
// be stored there, and the methods that look for one (head, readLink,
// deleteKey) take "" for a key that does not exist.
func (r *Remote) linkKey(p string) string {
	base := p[strings.LastIndexByte(p, '/')+1:]
	if len(base)+len(linkSuffix) > maxSegment || len(r.prefix)+len(p)+len(linkSuffix) > maxKeyLen {
		return ""
	}
	return r.prefix + p + linkSuffix
}

// dirKey returns the key prefix of the directory p, which is also the key
// of its marker: "" or ending in "/".
func (r *Remote) dirKey(p string) string {
	if p == "" {
		return r.prefix
	}
	return r.prefix + p + "/"
}

// skip records a key a listing leaves out because the mount cannot
// represent it.
func (r *Remote) skip(key, why string) {
	r.mu.Lock()
	_, seen := r.skipped[key]
	r.skipped[key] = struct{}{}
	r.mu.Unlock()
	if !seen {
		r.log.Warn("s3: skipping a key the mount cannot represent", "bucket", r.bucket, "key", key, "reason", why)
	}
}

// Skipped implements remote.Skipper: the keys List, Walk and ListArea have
// skipped so far, sorted: keys with ".", "..", empty, over-long, NUL or
// non-UTF-8 segments, and keys that collide with a directory or another key
// of the same name. Each is logged once.
func (r *Remote) Skipped() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]string, 0, len(r.skipped))
	for k := range r.skipped {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
