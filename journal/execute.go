package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	bolt "go.etcd.io/bbolt"
)

// uploaded is what the uploader last put on the remote for a node.
type uploaded struct {
	Path    string `json:"path"`
	Hash    string `json:"hash"`
	Version string `json:"version,omitempty"`
	// Pending is the hash of an upload under way: after a crash it tells
	// ferry's own landed upload from someone else's change.
	Pending string `json:"pending,omitempty"`
	// Saved is when the record was written (Unix ns): of two nodes' records
	// at one path, the later one knows the newer version.
	Saved int64 `json:"t,omitempty"`
}

func (u *Uploader) loadUploaded(id uint64) (uploaded, bool) {
	u.mu.Lock()
	up, cached := u.known[id]
	u.mu.Unlock()
	if cached {
		if up == nil {
			return uploaded{}, false
		}
		return *up, true
	}
	var v uploaded
	found := false
	u.store.View(func(tx *bolt.Tx) error {
		if b := cache.BucketOf(tx, cache.Uploaded).Get(cache.Key(id)); b != nil {
			found = json.Unmarshal(b, &v) == nil
		}
		return nil
	})
	return v, found
}

// saveUploaded records (up nil: forgets) what the remote has for id. The
// record is also kept in memory: the database only sees it once the log is
// folded.
func (u *Uploader) saveUploaded(id uint64, up *uploaded) {
	if up != nil {
		up.Saved = time.Now().UnixNano()
	}
	u.mu.Lock()
	u.known[id] = up
	u.mu.Unlock()
	b := new(cache.Batch)
	if up == nil {
		b.Delete(cache.Uploaded, cache.Key(id))
	} else {
		v, _ := json.Marshal(up)
		b.Put(cache.Uploaded, cache.Key(id), v)
	}
	u.commit(b)
}

// execute carries out a on the remote. It returns a note for the journal
// and the hash of uploaded content.
func (u *Uploader) execute(ctx context.Context, a *action) (note, hash string, err error) {
	r := u.remote
	switch a.kind {
	case actPut:
		return u.put(ctx, a, a.path)
	case actMkdir:
		a.change = u.dirChange(a.node, a.path)
		err := u.mkdir(ctx, a.node, a.path)
		if remote.IsPermanent(err) && u.cfg.Tree != nil && !u.cfg.UploadOnly {
			if e, serr := r.Stat(ctx, a.path); serr == nil && !e.Dir {
				return "", "", u.dirStepsAside(a, e)
			}
		}
		return "mkdir", "", err
	case actSetMeta:
		err := u.setMeta(ctx, a.node, a.path)
		if errors.Is(err, remote.ErrNotFound) && a.dir {
			err = u.mkdir(ctx, a.node, a.path)
		}
		if a.dir {
			a.change = u.dirChange(a.node, a.path)
		}
		return "setmeta", "", err
	case actMove:
		var err error
		up, ok := u.loadUploaded(a.node)
		if ok && up.Version == "" && u.cfg.Tree != nil {
			// Only an upload that may have landed unrecorded (a crash, or
			// a refused one, as in remove): no version of it is known to
			// be this device's, so it moves as a file never uploaded.
			ok = false
		}
		if err := u.staleRecord(a, up, ok, a.path); err != nil {
			return "", "", err
		}
		if ok && !a.dir && up.Path == a.path {
			var dst remote.Cond
			if u.cfg.Tree != nil {
				var taken *remote.Entry
				if dst, taken, err = u.moveTarget(ctx, a, up); err != nil {
					return "", "", err
				}
				if taken != nil {
					if _, serr := r.Stat(ctx, a.path); serr == nil {
						return u.renameOntoTaken(ctx, a, up, *taken)
					}
				}
			}
			err = u.renameIf(ctx, a.path, a.to, up.Version, dst)
			if errors.Is(err, remote.ErrPrecondition) && u.cfg.Tree != nil {
				src, serr := r.Stat(ctx, a.path)
				switch {
				case errors.Is(serr, remote.ErrNotFound):
					err = serr // the source is gone: handled below
				case serr != nil:
					return "", "", serr
				case src.Version != up.Version:
					if e, terr := r.Stat(ctx, a.to); terr == nil && !e.Dir && dst.IfMatch != "" && e.Version == dst.IfMatch && e.Hash != "" && e.Hash == up.Hash {
						// The new name holds this file's content already
						// (another device made the same rename), and the
						// old name a version that is not its own: that one
						// must not go over it. Both stay, as the remote
						// has them.
						return u.renameOntoTaken(ctx, a, up, e)
					}
					return u.moveConflict(ctx, a, up, src.Version, dst)
				default:
					// The new name changed hands meanwhile.
					e, terr := r.Stat(ctx, a.to)
					if errors.Is(terr, remote.ErrNotFound) {
						// Taken and freed again meanwhile: the next try sees.
						return "", "", fmt.Errorf("rename %s: the new name changed on the remote meanwhile; trying again", a.path)
					}
					if terr != nil {
						return "", "", fmt.Errorf("rename %s: the new name changed on the remote meanwhile: %w", a.path, terr)
					}
					return u.renameOntoTaken(ctx, a, up, e)
				}
			}
		} else if !a.dir && u.cfg.Tree != nil {
			return u.moveUnrecorded(ctx, a)
		} else {
			err = r.Rename(ctx, a.path, a.to)
		}
		if errors.Is(err, remote.ErrNotFound) {
			// The source never reached the remote: create the destination instead.
			if a.dir {
				a.change = u.dirChange(a.node, a.to)
				return "source missing on remote: mkdir " + a.to, "", u.mkdir(ctx, a.node, a.to)
			}
			return u.putAt(ctx, a, a.to)
		}
		if err != nil {
			return "", "", err
		}
		a.change = &Change{Op: changeMove, Path: a.path, To: a.to, Dir: a.dir}
		if a.dir {
			u.moveRecords(a.path, a.to)
			if settled, err := u.settleMoved(ctx, a.to, a); err != nil || !settled {
				if err != nil {
					u.log.Warn("after moving a directory, show what the remote has there; the next polls try again", "path", a.to, "err", err)
				}
				u.settleLater(a.to)
			}
		}
		if up, ok := u.loadUploaded(a.node); ok && up.Path == a.path {
			a.change.Was = up.Version
			u.refreshVersion(ctx, a.node, a.to, up.Hash)
			if up, ok := u.loadUploaded(a.node); ok {
				a.change.Version, a.change.Hash = up.Version, up.Hash
			}
		}
		if !a.dir {
			u.dropParentOf(ctx, a, a.path)
		}
		return "renamed on remote", "", nil
	case actDelete, actRmdir:
		if u.cfg.KeepDeletes {
			return "upload mode: the remote keeps it", "", nil
		}
		return u.remove(ctx, a)
	}
	return "", "", errors.New("unknown action")
}

// remove carries out a delete or rmdir action.
func (u *Uploader) remove(ctx context.Context, a *action) (note, hash string, err error) {
	r := u.remote
	switch a.kind {
	case actDelete:
		// Delete only the version this device knew: a file someone else
		// changed meanwhile is a conflict, not something to throw away.
		var cond remote.Cond
		up, known := u.loadUploaded(a.node)
		if err := u.staleRecord(a, up, known, a.path); err != nil {
			return "", "", err
		}
		known = known && up.Path == a.path
		if known && up.Version == "" {
			// Only an upload that may have landed unrecorded (a crash,
			// or a refused one): delete it only if it did.
			e, err := r.Stat(ctx, a.path)
			switch {
			case errors.Is(err, remote.ErrNotFound):
				u.saveUploaded(a.node, nil)
				return "not on the remote", "", nil
			case err != nil:
				return "", "", err
			case up.Pending == "" || e.Hash != up.Pending:
				known = false
			default:
				up.Version = e.Version
			}
		}
		if !known {
			// Never uploaded, or its remote copy is already gone; but
			// it may have replaced a file this device knows there.
			v, ok, err := u.versionAt(ctx, a.path)
			if err != nil {
				return "", "", err
			}
			if !ok {
				return "not on the remote", "", nil // someone else's
			}
			up = uploaded{Path: a.path, Version: v}
		}
		cond.IfMatch = up.Version
		err := r.Delete(ctx, a.path, cond)
		if errors.Is(err, remote.ErrPrecondition) {
			// Perhaps ferry's own upload landed unrecorded before a crash,
			// or a server-side copy (a directory rename) gave the content
			// this device knows a new version.
			if e, serr := r.Stat(ctx, a.path); serr == nil && e.Hash != "" && (e.Hash == up.Pending || e.Hash == up.Hash) {
				cond.IfMatch = e.Version
				err = r.Delete(ctx, a.path, cond)
			}
		}
		if errors.Is(err, remote.ErrPrecondition) && u.cfg.Tree != nil {
			note, hash, err := u.deleteConflict(ctx, a.path)
			if err == nil {
				// Settled: their version is back as a node of its own.
				// This record would claim a stale version at the path.
				u.saveUploaded(a.node, nil)
			}
			return note, hash, err
		}
		if err != nil {
			return "", "", err
		}
		u.saveUploaded(a.node, nil)
		a.change = &Change{Op: changeDelete, Path: a.path, Version: cond.IfMatch}
		return "deleted on remote", "", nil
	case actRmdir:
		a.change = &Change{Op: changeRmdir, Path: a.path, Dir: true}
		return "removed on remote", "", r.Rmdir(ctx, a.path)
	}
	return "", "", errors.New("unknown action")
}

// dirChange is the change-log entry of a directory made or changed at path.
func (u *Uploader) dirChange(id uint64, path string) *Change {
	c := &Change{Op: changeMkdir, Path: path, Dir: true}
	if meta, err := u.src.NodeMeta(id); err == nil {
		c.MTime, c.Mode = meta.ModTime, uint32(meta.Mode.Perm())
	}
	return c
}

// fileChange is the change-log entry of a file or symlink uploaded to path.
func fileChange(path string, c *Content, up uploaded) *Change {
	return &Change{Op: changePut, Path: path, Version: up.Version, Hash: up.Hash, Size: c.Size,
		MTime: c.Meta.ModTime, Mode: uint32(c.Meta.Mode.Perm()), Link: c.Meta.Link}
}

// mkdir creates directory id on the remote at path, with its metadata.
func (u *Uploader) mkdir(ctx context.Context, id uint64, path string) error {
	meta, err := u.src.NodeMeta(id)
	if err != nil && !errors.Is(err, ErrGone) {
		return err
	}
	return u.remote.Mkdir(ctx, path, meta)
}

func (u *Uploader) setMeta(ctx context.Context, id uint64, path string) error {
	meta, err := u.src.NodeMeta(id)
	if errors.Is(err, ErrGone) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.remote.SetMeta(ctx, path, meta)
}

// put uploads node id's current content to path, unless the remote already
// has exactly that content there, in which case only metadata is updated.
// The write is conditional on what the uploader last saw at path: the
// version it uploaded there, or nothing for a new file; a mismatch means
// someone else changed the remote and returns remote.ErrPrecondition.
func (u *Uploader) put(ctx context.Context, a *action, path string) (note, hash string, err error) {
	id := a.node
	if u.dropped(a) {
		return u.unput(ctx, a, path, a.stray)
	}
	c, err := u.src.OpenContent(id)
	if errors.Is(err, ErrGone) {
		return "node gone before upload: nothing to do", "", nil
	}
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	if c.Changed() {
		return "", "", errModified // still being written: upload once it settles
	}
	up, known := u.loadUploaded(id)
	if err := u.staleRecord(a, up, known, path); err != nil {
		return "", "", err
	}
	if c.Absent {
		// Only metadata changed; the content is the remote's own copy.
		if !known {
			return "content not cached: nothing to upload", "", nil
		}
		if up.Path != path {
			err := u.renameIf(ctx, up.Path, path, up.Version, remote.Cond{})
			if errors.Is(err, remote.ErrPrecondition) {
				src, serr := u.remote.Stat(ctx, up.Path)
				switch {
				case errors.Is(serr, remote.ErrNotFound):
					err = serr
				case serr == nil && u.cfg.Tree != nil && !src.Dir && (src.Hash == "" || src.Hash != up.Hash):
					// Replaced there before this device downloaded it
					// (a rename of it before this one may have left both
					// names as the remote has them): the version it
					// renamed is gone, and the old name shows theirs.
					// Nothing of it is left to show here.
					u.saveUploaded(id, nil)
					return "replaced on the remote before it was downloaded: gone", "", u.cfg.Tree.RemoveAt(path, id)
				}
			}
			if errors.Is(err, remote.ErrNotFound) && u.cfg.Tree != nil {
				if _, serr := u.remote.Stat(ctx, path); errors.Is(serr, remote.ErrNotFound) {
					if err := u.movedMaybe(ctx, a, up.Path); err != nil {
						return "", "", err
					}
					// Deleted on the remote before this device ever
					// downloaded it: nothing is left to keep.
					u.saveUploaded(id, nil)
					return "deleted on the remote before it was downloaded: gone", "", u.cfg.Tree.RemoveAt(path, id)
				}
				err = nil // an earlier try moved it
			}
			if err != nil {
				return "", "", err
			}
		}
		if err := u.setMetaIf(ctx, path, c.Meta, up.Version); err != nil {
			// ErrNotFound: gone from the remote (an unconditional update,
			// or a backend that says so): theirsWins finds out, as for a
			// version that changed, once a poll has told whether it moved.
			if (errors.Is(err, remote.ErrPrecondition) || errors.Is(err, remote.ErrNotFound)) && u.cfg.Tree != nil {
				if err := u.movedMeanwhile(a, path); err != nil {
					return "", "", err
				}
				if _, serr := u.remote.Stat(ctx, path); errors.Is(serr, remote.ErrNotFound) {
					if err := u.movedMaybe(ctx, a, path); err != nil {
						return "", "", err
					}
				}
				return u.theirsWins(ctx, id, path)
			}
			return "", "", err
		}
		u.refreshVersion(ctx, id, path, up.Hash)
		if now, ok := u.loadUploaded(id); ok {
			a.change = fileChange(path, c, now)
		}
		return "content not cached: metadata only", up.Hash, nil
	}
	if c.Meta.Link == "" {
		if hash, err = u.hashContent(c); err != nil {
			return "", "", err
		}
		c.Meta.Hash = hash
		if known && up.Path == path && up.Hash == hash {
			err := u.setMetaIf(ctx, path, c.Meta, up.Version)
			if err == nil {
				u.refreshVersion(ctx, id, path, hash)
				if now, ok := u.loadUploaded(id); ok {
					a.change = fileChange(path, c, now)
				}
				return "content unchanged: metadata only", hash, nil
			}
			if errors.Is(err, remote.ErrPrecondition) && u.cfg.Tree != nil {
				if err := u.movedMeanwhile(a, path); err != nil {
					return "", "", err
				}
				return u.theirsWins(ctx, id, path)
			}
			if !errors.Is(err, remote.ErrNotFound) {
				return "", "", err
			}
		}
	}
	// Overwrite only the version this device knows. Knowing none (a new
	// file, or one whose remote copy was deleted meanwhile), it writes
	// only where nothing is: whatever is there is someone else's.
	// A file that replaced another here (an editor's save: a temp file
	// renamed over it) overwrites the version this device knew there.
	var cond remote.Cond
	v := ""
	if known && up.Path == path {
		v = up.Version
	}
	if v == "" && a.replaces {
		if v, _, err = u.versionAt(ctx, path); err != nil {
			return "", "", err
		}
	}
	if v != "" {
		cond.IfMatch = v
	} else {
		cond.IfNoneMatch = true
	}
	if hash != "" {
		pending := up
		if !known {
			pending = uploaded{Path: path}
		}
		pending.Pending = hash
		u.saveUploaded(id, &pending)
	}
	body := &snapshotReaderAt{r: c.R, c: c}
	var e remote.Entry
	if rr, ok := u.remote.(remote.Resumable); ok {
		e, err = u.putResumable(ctx, rr, id, path, hash, body, c, cond)
	} else {
		e, err = u.remote.Put(ctx, path, io.NewSectionReader(body, 0, c.Size), c.Size, c.Meta, cond)
	}
	if errors.Is(err, remote.ErrPrecondition) && hash != "" {
		if note, err := u.ownUpload(ctx, id, path, hash, up.Pending); note != "" || err != nil {
			if now, ok := u.loadUploaded(id); ok && err == nil {
				// Logged all the same: the change log never heard of it
				// (an answer lost, and the request sent again; a crash).
				a.change = fileChange(path, c, now)
			}
			return note, hash, err
		}
	}
	if errors.Is(err, remote.ErrPrecondition) {
		if note, err := u.conflictOnPut(ctx, a, path); note != "" || err != nil {
			return note, "", err
		}
	}
	if err != nil {
		return "", "", err
	}
	if u.dropped(a) {
		return u.unput(ctx, a, path, e.Version)
	}
	if u.deletedMeanwhile(id, path, e.Version) {
		return u.landedDeleted(ctx, a, path, e.Version)
	}
	// The remote holds this version now, even if the file changed since it
	// was read: the retry's conditional write must expect it.
	now := uploaded{Path: path, Hash: hash, Version: e.Version}
	u.saveUploaded(id, &now)
	if c.Changed() {
		return "", "", errModified
	}
	a.change = fileChange(path, c, now)
	u.mu.Lock()
	u.stats.UploadedBytes += c.Size
	u.mu.Unlock()
	return "uploaded", hash, nil
}

// deletedMeanwhile reports whether a poll, while the upload of node id
// to p ran, brought a remote delete of version v, the one it made, and
// forgets any delete noted for the node.
func (u *Uploader) deletedMeanwhile(id uint64, p, v string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	c, ok := u.deletedWhile[id]
	delete(u.deletedWhile, id)
	return ok && c.Path == p && c.Version == v
}

// landedDeleted ends the upload a, whose version v at p another device
// deleted before its answer came here: it saw the version land. The
// delete, which the poll left to this upload, applies now, as applyDelete
// would have: the file goes, unless changed here since, when it goes up
// again as new. An upload again of the same content (its first answer
// lost, it found the file gone and went up anew) made v once more, where
// an S3 version is the content's MD5: that goes too.
func (u *Uploader) landedDeleted(ctx context.Context, a *action, p, v string) (note, hash string, err error) {
	if err := u.removeVersion(ctx, p, v); err != nil {
		return "", "", err
	}
	u.saveUploaded(a.node, nil)
	if u.pendingBesides(a) {
		return "uploaded, and deleted on the remote before the answer came: changed here since, it goes up again", "", nil
	}
	err = u.cfg.Tree.RemoveAt(p, a.node)
	if errors.Is(err, ErrLocalChanges) {
		return "uploaded, and deleted on the remote before the answer came: being changed here, it goes up again", "", nil
	}
	return "uploaded, and deleted on the remote before the answer came: gone", "", err
}

// dropped reports whether dropPending superseded a while it ran.
func (u *Uploader) dropped(a *action) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return a.dropped
}

// unput removes the version v (if any) that put a left at p after it was
// dropped (its file stepped aside to a conflict name, which goes up on its
// own): this device no longer shows the file at p, and must not leave it
// there for others.
func (u *Uploader) unput(ctx context.Context, a *action, p, v string) (note, hash string, err error) {
	if up, ok := u.loadUploaded(a.node); ok && up.Path == p {
		u.saveUploaded(a.node, nil)
	}
	if v != "" {
		err := u.remote.Delete(ctx, p, remote.Cond{IfMatch: v})
		if err != nil && !errors.Is(err, remote.ErrNotFound) && !errors.Is(err, remote.ErrPrecondition) {
			a.stray = v // the retry removes it
			return "", "", err
		}
	}
	return "superseded while it went up: not left at the old name", "", nil
}

// ownUpload looks at what made a conditional write fail. If the remote
// holds content ferry itself uploaded (an upload that landed just before a
// crash, unrecorded), that is no conflict: its version is adopted. It
// returns a note when the content is already there, a transient error when
// the write should be retried against the adopted version, and neither
// when it is someone else's change.
func (u *Uploader) ownUpload(ctx context.Context, id uint64, path, hash, earlier string) (string, error) {
	e, err := u.remote.Stat(ctx, path)
	if err != nil || e.Hash == "" || (e.Hash != hash && e.Hash != earlier) {
		return "", nil
	}
	u.saveUploaded(id, &uploaded{Path: path, Hash: e.Hash, Version: e.Version})
	if e.Hash == hash {
		return "already on the remote: an upload that landed before a restart", nil
	}
	return "", fmt.Errorf("%s: the remote holds an earlier upload of this file; retrying against it", path)
}

// inProgress is a resumable upload kept across restarts.
type inProgress struct {
	Path  string             `json:"path"`
	Hash  string             `json:"hash"` // the content being uploaded
	State remote.UploadState `json:"state"`
}

// putResumable uploads in parts, persisting progress in the journal so that
// a crash or an outage resumes from the last completed part. Progress made
// for other content (the file changed since) is aborted.
func (u *Uploader) putResumable(ctx context.Context, rr remote.Resumable, id uint64, path, hash string,
	body io.ReaderAt, c *Content, cond remote.Cond) (remote.Entry, error) {
	var st *remote.UploadState
	prev, recorded := u.loadInProgress(id)
	if recorded {
		if prev.Path == path && prev.Hash == hash {
			st = &prev.State
		} else if err := rr.AbortUpload(ctx, prev.Path, prev.State.UploadID); err != nil {
			return remote.Entry{}, err
		}
	}
	save := func(s remote.UploadState) error {
		recorded = true
		return u.saveInProgress(id, &inProgress{Path: path, Hash: hash, State: s})
	}
	e, err := rr.PutResumable(ctx, path, body, c.Size, c.Meta, cond, st, save)
	if err == nil || remote.IsPermanent(err) || errors.Is(err, errModified) {
		if err != nil {
			if prev, ok := u.loadInProgress(id); ok {
				rr.AbortUpload(context.WithoutCancel(ctx), prev.Path, prev.State.UploadID)
			}
		}
		// A file sent in one request recorded nothing: nothing to forget.
		if !recorded {
			return e, err
		}
		if err := u.saveInProgress(id, nil); err != nil {
			u.log.Error("record upload progress", "err", err)
		}
	}
	return e, err
}

func (u *Uploader) loadInProgress(id uint64) (inProgress, bool) {
	u.mu.Lock()
	p, cached := u.progress[id]
	u.mu.Unlock()
	if cached {
		if p == nil {
			return inProgress{}, false
		}
		return *p, true
	}
	var v inProgress
	found := false
	u.store.View(func(tx *bolt.Tx) error {
		if b := cache.BucketOf(tx, cache.Uploads).Get(cache.Key(id)); b != nil {
			found = json.Unmarshal(b, &v) == nil
		}
		return nil
	})
	return v, found
}

// saveInProgress records (p nil: forgets) the progress of id's upload.
func (u *Uploader) saveInProgress(id uint64, p *inProgress) error {
	u.mu.Lock()
	u.progress[id] = p
	u.mu.Unlock()
	b := new(cache.Batch)
	if p == nil {
		b.Delete(cache.Uploads, cache.Key(id))
	} else {
		v, _ := json.Marshal(p)
		b.Put(cache.Uploads, cache.Key(id), v)
	}
	return u.store.Commit(b)
}

// setMetaIf updates metadata only if the remote still has version (when
// known and the remote supports conditions), so that someone else's change
// is a conflict rather than something silently adopted.
func (u *Uploader) setMetaIf(ctx context.Context, path string, meta remote.Meta, version string) error {
	if c, ok := u.remote.(remote.Conditional); ok && version != "" {
		return c.SetMetaIf(ctx, path, meta, version)
	}
	return u.remote.SetMeta(ctx, path, meta)
}

// moveUnrecorded carries out the rename a of a file this device never
// uploaded (no record): what the remote has at the old name is not this
// file's content. Only a version this device knows there, still current (a
// file this one replaced here), is moved, pinned to that version, and only
// onto what the rename may replace at the new name (see moveTarget).
// Anything else at either name is someone else's and stays; this file, if
// it still exists, goes up at the new name. A file gone here since brings
// nothing to the new name (what is there now has its own action): only the
// version it replaced leaves the old name.
func (u *Uploader) moveUnrecorded(ctx context.Context, a *action) (note, hash string, err error) {
	putAtTo := func() (string, string, error) { return u.putAt(ctx, a, a.to) }
	e, err := u.remote.Stat(ctx, a.path)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return putAtTo()
	case err != nil:
		return "", "", err
	case e.Dir:
		return putAtTo()
	}
	v, known := u.knownVersion(a.path, e)
	if up, ok := u.loadUploaded(a.node); ok && e.Hash != "" && (up.Hash == e.Hash || up.Path == a.path && up.Pending == e.Hash) {
		// This file's own content, recorded at another path (a crash
		// can leave a directory rename's records at the old paths), or
		// an upload of it that landed unrecorded.
		v, known = e.Version, true
	}
	if !known || v == "" {
		return putAtTo()
	}
	if _, gerr := u.src.NodeMeta(a.node); errors.Is(gerr, ErrGone) {
		err := u.remote.Delete(ctx, a.path, remote.Cond{IfMatch: v})
		switch {
		case errors.Is(err, remote.ErrPrecondition):
			return "node gone before upload: the old name changed on the remote, it stays", "", nil
		case err != nil:
			return "", "", err
		}
		a.change = &Change{Op: changeDelete, Path: a.path, Version: v}
		return "node gone before upload: removed the version it replaced", "", nil
	}
	dst, taken, err := u.moveTarget(ctx, a, uploaded{})
	if err != nil {
		return "", "", err
	}
	if taken == nil {
		err = u.renameIf(ctx, a.path, a.to, v, dst)
		if err == nil {
			// What moved is the version known at the old name, which
			// need not be this file's content (that never went up):
			// this file goes up over it, or only its metadata when the
			// content is the same.
			u.addChange(Change{Op: changeMove, Path: a.path, To: a.to, Was: v})
			u.refreshVersion(ctx, a.node, a.to, e.Hash)
			note, hash, err := u.putAt(ctx, a, a.to)
			if err != nil {
				return "", "", err
			}
			return "renamed on remote; " + note, hash, nil
		}
		if !errors.Is(err, remote.ErrPrecondition) && !errors.Is(err, remote.ErrNotFound) {
			return "", "", err
		}
	}
	// The old name changed since, or the new one holds someone else's
	// file: both stay, and this file goes up at the new name.
	return putAtTo()
}

// dropParentOf removes from the remote the directory above p, which a file
// move of action a took the file out of, when this device no longer has
// that directory: the file was uploaded into it after another device had
// moved the directory away (see followMove, Republish), and the remote,
// which keeps the parent of a file moved out, would keep it for good. The
// rmdir is logged after the move, so the other devices drop the directory
// their copy of the upload made too.
func (u *Uploader) dropParentOf(ctx context.Context, a *action, p string) {
	parent := path.Dir(p)
	if u.cfg.Tree == nil || parent == "." {
		return
	}
	if _, _, ok := u.cfg.Tree.NodeAt(parent); ok {
		return
	}
	if err := u.remote.Rmdir(ctx, parent); err != nil {
		u.log.Debug("remove a directory gone here after moving a file out", "path", parent, "err", err)
		return
	}
	a.then = append(a.then, Change{Op: changeRmdir, Path: parent, Dir: true})
}

// staleRecord is movedMeanwhile's error when the record up of a's node
// names another path than p, the one a acts on, and a remote move may
// have made the difference: the poller rewrites the records of what a
// remote move took before it rebases the actions waiting there. Acting
// on the difference would move the file back (it looks like a rename made
// here) or write a second copy at p; the next attempt acts at the rebased
// path.
func (u *Uploader) staleRecord(a *action, up uploaded, known bool, p string) error {
	if !known || up.Path == p || a.dir {
		return nil
	}
	return u.movedMeanwhile(a, p)
}

// putAt uploads the file of a, a rename that cannot move it on the remote,
// as new at path p; what it uploads is a's change for the change log.
func (u *Uploader) putAt(ctx context.Context, a *action, p string) (note, hash string, err error) {
	pa := &action{node: a.node, replaces: a.replaces, missing: a.missing, movesBegun: a.movesBegun, movesEnded: a.movesEnded}
	note, hash, err = u.put(ctx, pa, p)
	a.change, a.missing = pa.change, pa.missing
	return note, hash, err
}

// contentHere reports whether this device holds node id's content: false
// for a file deleted here since, or one whose content it never downloaded.
func (u *Uploader) contentHere(id uint64) (bool, error) {
	_, here, err := u.contentOf(id)
	return here, err
}

// contentOf reports whether node id still exists here, and whether this
// device holds its content.
func (u *Uploader) contentOf(id uint64) (exists, here bool, err error) {
	c, err := u.src.OpenContent(id)
	if errors.Is(err, ErrGone) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	defer c.Close()
	return true, !c.Absent, nil
}

// renameIf moves a file only if the remote still has version and what is
// at to meets dst, like setMetaIf.
func (u *Uploader) renameIf(ctx context.Context, from, to, version string, dst remote.Cond) error {
	if c, ok := u.remote.(remote.Conditional); ok && version != "" {
		return c.RenameIf(ctx, from, to, version, dst)
	}
	return u.remote.Rename(ctx, from, to)
}

// moveTarget decides what the rename a of the file uploaded as up may
// replace at its new name: nothing (IfNoneMatch), the version this device
// knew there when the rename replaced a file (IfMatch), or its own content
// (a rename begun before a restart, which the rename completes). Anything
// else there is someone else's, returned as taken: it must not be
// overwritten.
func (u *Uploader) moveTarget(ctx context.Context, a *action, up uploaded) (dst remote.Cond, taken *remote.Entry, err error) {
	e, err := u.remote.Stat(ctx, a.to)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return remote.Cond{IfNoneMatch: true}, nil, nil
	case err != nil:
		return remote.Cond{}, nil, err
	case e.Dir:
		return remote.Cond{}, nil, nil // the rename fails: a directory is in the way
	case e.Hash != "" && e.Hash == up.Hash:
		return remote.Cond{IfMatch: e.Version}, nil, nil
	}
	if a.replaces {
		if v, known := u.knownVersion(a.to, e); known {
			return remote.Cond{IfMatch: v}, nil, nil // a stale v fails the rename
		}
	}
	return remote.Cond{}, &e, nil
}

// refreshVersion records the version now at path: metadata updates and
// renames give some backends a new one.
func (u *Uploader) refreshVersion(ctx context.Context, id uint64, path, hash string) {
	e, err := u.remote.Stat(ctx, path)
	if err != nil {
		return // the next conditional write finds out
	}
	if e.Hash != "" && hash != "" && e.Hash != hash {
		// Someone else's content got there first: their version is not
		// this file's. Unknown, so the poller brings theirs in.
		e.Version = ""
	}
	u.saveUploaded(id, &uploaded{Path: path, Hash: hash, Version: e.Version})
}

// snapshotReaderAt reads c and fails once c has changed, so a torn read is
// never committed by the remote.
type snapshotReaderAt struct {
	r io.ReaderAt
	c *Content
}

func (s *snapshotReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.r.ReadAt(p, off)
	if s.c.Changed() {
		return n, errModified
	}
	return n, err
}

// Adopt records that node id's content is the remote file e, as found by
// an import: later uploads of it are conditional on that version.
func (u *Uploader) Adopt(id uint64, e remote.Entry) {
	u.saveUploaded(id, &uploaded{Path: e.Path, Hash: e.Hash, Version: e.Version})
}

// Gone forgets the record of file id, which the mount dropped: a fetch
// found it gone from the remote (see FetchRange). Kept, the record would
// claim the file's content for this device wherever another device put it
// next, a move of it included, and a save here over that name would
// overwrite the other device's file as if it were this device's own.
func (u *Uploader) Gone(id uint64) {
	u.pollMu.Lock() // a poll applying a move of it meanwhile rewrote the record
	defer u.pollMu.Unlock()
	u.saveUploaded(id, nil)
}

// Fetch downloads the remote copy of node id into dst, from where the
// uploader last saw it. A version that changed since is still fetched: it
// is the newest the remote has.
func (u *Uploader) Fetch(ctx context.Context, id uint64, dst *os.File) error {
	rc, err := u.FetchRange(ctx, id, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(dst, rc)
	return err
}

// FetchRange opens length bytes (length < 0: to the end) of the remote copy
// of node id at off, from where the uploader last saw it, and only of the
// version it last saw: a newer one yields remote.ErrPrecondition once the
// mount shows it (see refresh). A copy gone from there may have moved with
// its directory, which the poller has not told yet: a poll tells, and the
// fetch follows the move.
func (u *Uploader) FetchRange(ctx context.Context, id uint64, off, length int64) (io.ReadCloser, error) {
	rc, err := u.fetchRange(ctx, id, off, length)
	if !errors.Is(err, remote.ErrNotFound) {
		return rc, err
	}
	before, _ := u.loadUploaded(id)
	if perr := u.PollOnce(ctx); perr != nil {
		u.log.Debug("poll for a file gone from the remote", "node", id, "err", perr)
		return nil, err
	}
	if now, ok := u.loadUploaded(id); !ok || now == before {
		return nil, err // deleted there, or not told yet: gone
	}
	return u.fetchRange(ctx, id, off, length)
}

func (u *Uploader) fetchRange(ctx context.Context, id uint64, off, length int64) (io.ReadCloser, error) {
	up, ok := u.loadUploaded(id)
	if !ok {
		return nil, fmt.Errorf("node %d: %w", id, remote.ErrNotFound)
	}
	rc, err := u.remote.Get(ctx, up.Path, off, length, up.Version)
	if errors.Is(err, remote.ErrPrecondition) {
		// The remote has a newer version than the mount shows: show that
		// one, and let the caller fetch again for its new size.
		if t := u.cfg.Tree; t != nil {
			if nid, _, ok := t.NodeAt(up.Path); ok && nid == id {
				if rerr := u.refresh(ctx, up.Path); rerr != nil {
					return nil, rerr
				}
			}
		}
		return nil, err
	}
	if errors.Is(err, remote.ErrNotFound) && u.isHeld(up.Path) {
		b, herr := u.fetchHeld(ctx, up.Path)
		if herr != nil {
			return nil, herr
		}
		if off > int64(len(b)) {
			off = int64(len(b))
		}
		b = b[off:]
		if length >= 0 && length < int64(len(b)) {
			b = b[:length]
		}
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return rc, err
}

// refresh brings the entry at p, which changed on the remote without the
// poller telling yet, into the mount, as the poller would.
func (u *Uploader) refresh(ctx context.Context, p string) error {
	e, err := u.remote.Stat(ctx, p)
	if err != nil {
		return err
	}
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	if e.Dir {
		return u.applyMkdir(e)
	}
	return u.applyPut(e)
}
