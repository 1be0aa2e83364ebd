package journal

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	bolt "go.etcd.io/bbolt"
)

// uploaded is what the uploader last put on the remote for a node.
type uploaded struct {
	Path    string `json:"path"`
	Hash    string `json:"hash"`
	Version string `json:"version,omitempty"`
}

func (u *Uploader) loadUploaded(id uint64) (uploaded, bool) {
	var up uploaded
	found := false
	u.store.View(func(tx *bolt.Tx) error {
		if v := cache.BucketOf(tx, cache.Uploaded).Get(cache.Key(id)); v != nil {
			found = json.Unmarshal(v, &up) == nil
		}
		return nil
	})
	return up, found
}

func (u *Uploader) saveUploaded(id uint64, up *uploaded) {
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
		return u.put(ctx, a.node, a.path)
	case actMkdir:
		if err := r.Mkdir(ctx, a.path); err != nil {
			return "", "", err
		}
		return "mkdir", "", u.setMeta(ctx, a.node, a.path)
	case actSetMeta:
		err := u.setMeta(ctx, a.node, a.path)
		if errors.Is(err, remote.ErrNotFound) && a.dir {
			if err := r.Mkdir(ctx, a.path); err != nil {
				return "", "", err
			}
			err = u.setMeta(ctx, a.node, a.path)
		}
		return "setmeta", "", err
	case actMove:
		err := r.Rename(ctx, a.path, a.to)
		if errors.Is(err, remote.ErrNotFound) {
			// The source never reached the remote: create the destination instead.
			if a.dir {
				if err := r.Mkdir(ctx, a.to); err != nil {
					return "", "", err
				}
				return "source missing on remote: mkdir " + a.to, "", u.setMeta(ctx, a.node, a.to)
			}
			return u.put(ctx, a.node, a.to)
		}
		if err != nil {
			return "", "", err
		}
		if up, ok := u.loadUploaded(a.node); ok && up.Path == a.path {
			up.Path = a.to
			u.saveUploaded(a.node, &up)
		}
		return "renamed on remote", "", nil
	case actDelete:
		if err := r.Delete(ctx, a.path, remote.Cond{}); err != nil {
			return "", "", err
		}
		u.saveUploaded(a.node, nil)
		return "deleted on remote", "", nil
	case actRmdir:
		return "removed on remote", "", r.Rmdir(ctx, a.path)
	}
	return "", "", errors.New("unknown action")
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
func (u *Uploader) put(ctx context.Context, id uint64, path string) (note, hash string, err error) {
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
	if c.Meta.Link == "" {
		if hash, err = hashContent(c); err != nil {
			return "", "", err
		}
		c.Meta.Hash = hash
		if up, ok := u.loadUploaded(id); ok && up.Path == path && up.Hash == hash {
			err := u.remote.SetMeta(ctx, path, c.Meta)
			if err == nil {
				return "content unchanged: metadata only", hash, nil
			}
			if !errors.Is(err, remote.ErrNotFound) {
				return "", "", err
			}
		}
	}
	var body io.Reader = &snapshotReader{r: io.NewSectionReader(c.R, 0, c.Size), c: c}
	e, err := u.remote.Put(ctx, path, body, c.Size, c.Meta, remote.Cond{})
	if err != nil {
		return "", "", err
	}
	if c.Changed() {
		return "", "", errModified
	}
	u.mu.Lock()
	u.stats.UploadedBytes += c.Size
	u.mu.Unlock()
	u.saveUploaded(id, &uploaded{Path: path, Hash: hash, Version: e.Version})
	return "uploaded", hash, nil
}
