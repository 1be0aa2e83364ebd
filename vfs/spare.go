package vfs

import (
	"os"

	"github.com/ferry-fs/ferry/cache"
)

// Creating a content file costs a filesystem create on the request path of
// every new file. A background filler keeps a pool of empty content files
// with reserved ids ready instead. Reserved ids are recorded in the Meta
// bucket, so a crash leaves no stray content: recover deletes them.

const (
	spareTarget = 128
	spareLow    = 64
)

type spare struct {
	id uint64
	f  *os.File
}

func spareKey(id uint64) []byte { return append([]byte("spare/"), cache.Key(id)...) }

// takeSpare returns a ready content file and its id, or ok false when the
// pool is empty. Callers hold mu; b records that the id is no longer spare.
func (fs *FS) takeSpare(b *cache.Batch) (id uint64, f *os.File, ok bool) {
	if len(fs.spares) < spareLow {
		select {
		case fs.refill <- struct{}{}:
		default:
		}
	}
	if len(fs.spares) == 0 {
		return 0, nil, false
	}
	s := fs.spares[len(fs.spares)-1]
	fs.spares = fs.spares[:len(fs.spares)-1]
	b.Delete(cache.Meta, spareKey(s.id))
	return s.id, s.f, true
}

// fillSpares runs until fs.stop is closed.
func (fs *FS) fillSpares() {
	defer close(fs.fillerDone)
	for {
		select {
		case <-fs.stop:
			return
		case <-fs.refill:
		}
		fs.mu.Lock()
		want := spareTarget - len(fs.spares)
		b := new(cache.Batch)
		ids := make([]uint64, 0, want)
		for range want {
			id := fs.newID(b)
			b.Put(cache.Meta, spareKey(id), nil)
			ids = append(ids, id)
		}
		err := fs.store.Commit(b)
		fs.mu.Unlock()
		if err != nil {
			continue // a full disk: Create makes its own files
		}
		var made []spare
		for _, id := range ids {
			f, err := fs.store.CreateContent(id)
			if err != nil {
				break
			}
			made = append(made, spare{id: id, f: f})
		}
		fs.mu.Lock()
		fs.spares = append(fs.spares, made...)
		fs.mu.Unlock()
	}
}

// dropSpares is called by recover: content reserved by an earlier run.
func (fs *FS) dropSpares(ids []uint64) error {
	for _, id := range ids {
		if err := fs.store.RemoveContent(id); err != nil {
			return err
		}
		b := new(cache.Batch)
		b.Delete(cache.Meta, spareKey(id))
		if err := fs.store.Commit(b); err != nil {
			return err
		}
	}
	return nil
}
