package s3

import (
	"context"
	"errors"
	"strings"

	"github.com/ferry-fs/ferry/remote"
)

// walkPage is how many keys Walk asks for per ListObjectsV2 request.
const walkPage = 1000

// Walk implements remote.Walker with ListObjectsV2 over the whole prefix,
// without a delimiter, 1000 keys a request, and no HEAD requests: entries
// carry the listing's size, ETag and LastModified (not the recorded mtime),
// and no mode or hash. Directories are their "dir/" markers (with the
// marker's ETag and LastModified) and the key prefixes (with neither); the
// targets of symlinks are read with one GET each.
//
// Keys are skipped as List skips them, with the same entries in Skipped,
// and so is ferry's area. Walk relies on S3 listing keys in byte order.
func (r *Remote) Walk(ctx context.Context, fn func(remote.Entry) error) error {
	const op = "walk"
	if err := ctx.Err(); err != nil {
		return err
	}
	w := &walker{r: r, ctx: ctx, op: op, fn: fn}
	q := query{prefix: r.prefix, max: walkPage}
	for {
		pg, err := r.list(ctx, op, q)
		if err != nil {
			return err
		}
		for _, o := range pg.objects {
			if err := w.add(o); err != nil {
				return err
			}
		}
		if q.token = pg.next; q.token == nil {
			return w.settle("", true)
		}
	}
}

// walker turns the keys of a listing, in byte order, into entries, each
// directory once and before anything below it. The keys below a directory
// "d/" are contiguous in that order, so a directory is reported when the
// first of them arrives. A file "a/b" cannot be reported when it arrives:
// keys like "a/b c" and "a/b-x/y" sort between it and "a/b/c", which would
// make "a/b" a directory and the file a loser (see List).
type walker struct {
	r   *Remote
	ctx context.Context
	op  string
	fn  func(remote.Entry) error

	// open holds the directories the last key is below, outermost first,
	// all of them reported.
	open []string
	// pending holds the files and symlinks not yet reported, each a
	// prefix of the last key, waiting for a key that settles whether a
	// directory of the same name exists.
	pending []pendingEntry
}

// pendingEntry is a file or symlink object that may yet lose to a directory.
type pendingEntry struct {
	path string
	obj  listed
	link bool
}

// add takes the next key of the listing.
func (w *walker) add(o listed) error {
	rel := o.key[len(w.r.prefix):]
	if err := w.settle(rel, false); err != nil {
		return err
	}
	if rel == "" || strings.HasPrefix(rel, ferryDir+"/") {
		return nil // the marker of the root; ferry's area
	}
	dir, name := "", rel
	if cut := strings.LastIndexByte(rel, '/'); cut >= 0 {
		dir, name = rel[:cut], rel[cut+1:]
		var marker *listed
		if name == "" {
			marker = &o
		}
		if ok, err := w.openDirs(dir, marker); err != nil || !ok || marker != nil {
			return err
		}
	}
	name, isLink := strings.CutSuffix(name, linkSuffix)
	if err := checkChild(dir, name); err != nil {
		w.r.skip(o.key, err.Error())
		return nil
	}
	p := join(dir, name)
	if isLink && w.isPending(p) {
		w.r.skip(o.key, whyLinkLoses)
		return nil
	}
	w.pending = append(w.pending, pendingEntry{path: p, obj: o, link: isLink})
	return nil
}

// openDirs reports the directory dir and its parents that are not open
// yet, dir with the metadata of its marker when marker is set. It reports
// false, skipping the key prefix, when a segment cannot be a name.
func (w *walker) openDirs(dir string, marker *listed) (bool, error) {
	start := 0
	for depth := 0; ; depth++ {
		end := len(dir)
		if i := strings.IndexByte(dir[start:], '/'); i >= 0 {
			end = start + i
		}
		p := dir[:end]
		if depth >= len(w.open) || w.open[depth] != p {
			if err := checkName(dir[start:end]); err != nil {
				w.r.skip(w.r.prefix+p+"/", "name "+err.Error())
				return false, nil
			}
			w.open = append(w.open[:depth], p)
			var m *object
			if marker != nil && end == len(dir) {
				m = &object{lastMod: marker.lastMod, etag: marker.etag}
			}
			if err := w.fn(dirEntry(p, m)); err != nil {
				return false, err
			}
		}
		if end == len(dir) {
			return true, nil
		}
		start = end + 1
	}
}

// isPending reports whether a file at p waits to be reported.
func (w *walker) isPending(p string) bool {
	for _, pe := range w.pending {
		if pe.path == p {
			return true
		}
	}
	return false
}

// settle decides the pending entries that key, the next in the listing,
// settles: one with keys below it is a directory, and the file or symlink
// loses; one that key sorts after cannot have keys below it any more, and
// is reported. At the end of the listing every pending entry is reported.
func (w *walker) settle(key string, end bool) error {
	kept := w.pending[:0]
	for _, pe := range w.pending {
		switch {
		case !end && strings.HasPrefix(key, pe.path+"/"):
			if pe.link {
				w.r.skip(pe.obj.key, whyLinkLoses)
			} else {
				w.r.skip(pe.obj.key, whyDirWins)
			}
		case end || key > pe.path+"/":
			if err := w.report(pe); err != nil {
				return err
			}
		default:
			kept = append(kept, pe)
		}
	}
	w.pending = kept
	return nil
}

// report calls fn for a settled file or symlink.
func (w *walker) report(pe pendingEntry) error {
	if !pe.link {
		if pe.obj.size == tombstoneSize {
			// Perhaps a delete's tombstone, which reads as absent.
			if _, err := w.r.head(w.ctx, w.op, pe.obj.key); errors.Is(err, remote.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
		}
		o := object{size: pe.obj.size, lastMod: pe.obj.lastMod, etag: pe.obj.etag}
		return w.fn(fileEntry(pe.path, o))
	}
	e, ok, err := w.r.linkChild(w.ctx, w.op, pe.path, pe.obj.key)
	if err != nil || !ok {
		return err
	}
	return w.fn(e)
}
