// Package cache keeps ferry's local state on disk: file content keyed by a
// stable file id, and the metadata tree plus the operation journal in one
// bbolt database.
//
// Writes reach the database through Commit, which appends the batch to a
// write-ahead log with one write(2) and returns: a kill -9 right after Commit
// returns loses nothing. A background committer folds the log into bbolt in
// groups (one bbolt transaction and fsync per group, off the request path),
// so a batch's metadata and journal entries always land in bbolt together.
// Sync makes everything committed so far durable against power loss.
package cache

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bucket names one keyspace of the database.
type Bucket byte

const (
	Nodes    Bucket = 1 // node id -> Node
	Dirents  Bucket = 2 // parent id + name -> child id
	Journal  Bucket = 3 // seq -> journal op (owned by package journal)
	Meta     Bucket = 4 // small named values
	Uploaded Bucket = 5 // node id -> what the uploader last put on the remote
	Uploads  Bucket = 6 // node id -> progress of an interrupted resumable upload
)

var bucketNames = map[Bucket][]byte{
	Nodes: []byte("nodes"), Dirents: []byte("dirents"), Journal: []byte("journal"),
	Meta: []byte("meta"), Uploaded: []byte("uploaded"), Uploads: []byte("uploads"),
}

// ErrLocked means another process holds the cache directory.
var ErrLocked = errors.New("cache dir is in use by another running ferry")

// Batch is a set of mutations that reach the database atomically.
type Batch struct{ muts []mutation }

// Put sets key to val in bucket. The batch keeps both slices.
func (b *Batch) Put(bk Bucket, key, val []byte) {
	b.muts = append(b.muts, mutation{bucket: byte(bk), key: key, val: val})
}

// Delete removes key from bucket.
func (b *Batch) Delete(bk Bucket, key []byte) {
	b.muts = append(b.muts, mutation{bucket: byte(bk), del: true, key: key})
}

// Len is the number of mutations in the batch.
func (b *Batch) Len() int { return len(b.muts) }

// unfoldedNode is a node's record in a batch not yet folded into bbolt.
type unfoldedNode struct {
	lsn uint64
	val []byte
	del bool
}

type record struct {
	lsn  uint64
	muts []mutation
}

// Store is an open cache directory. All methods are safe for concurrent use.
type Store struct {
	dir  string
	db   *bolt.DB
	lock *os.File
	log  *slog.Logger

	// mu guards the fields below. Lock order: callers' locks, then mu.
	mu      sync.Mutex
	wal     [2]*os.File
	cur     int      // index of the log new records go to
	size    int64    // bytes in wal[cur]
	lsn     uint64   // last lsn handed out
	pending []record // in the log, not yet in bbolt
	pendLen int      // bytes of pending
	// unfolded: the newest node record of each node changed by pending, so
	// that LoadNode sees every committed batch: a node a batch deleted must
	// not come back from bbolt before the fold.
	unfolded map[uint64]unfoldedNode
	buf      []byte

	applyMu  sync.Mutex // serialises applies (committer, Close)
	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	interval time.Duration
}

// Open opens (creating if needed) the cache directory dir, takes its lock,
// and replays the write-ahead log left by a crash.
func Open(dir string, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("cache dir %s: %w", dir, err)
	}
	spreadSubdirs(filepath.Join(dir, "data"))
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cache dir %s: %w", dir, err)
	}
	if err := flock(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{
		// The freelist is written with each fold, so that opening a large
		// cache does not scan every page to rebuild it.
		Timeout: time.Second, FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open %s: %w", filepath.Join(dir, "meta.db"), err)
	}
	s := &Store{dir: dir, db: db, lock: lock, log: log,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{}),
		interval: 200 * time.Millisecond}
	if err := s.recover(); err != nil {
		db.Close()
		lock.Close()
		return nil, err
	}
	go s.committer()
	return s, nil
}

func (s *Store) walPath(i int) string { return filepath.Join(s.dir, fmt.Sprintf("wal.%d", i)) }

// recover applies the intact records of both logs that bbolt has not seen,
// then starts both logs empty.
func (s *Store) recover() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range bucketNames {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("init %s: %w", s.dir, err)
	}
	applied := s.GetUint(MetaKeyAppliedLSN)
	var recs []record
	for i := range s.wal {
		err := readWAL(s.walPath(i), func(lsn uint64, muts []mutation) error {
			if lsn > applied {
				recs = append(recs, record{lsn: lsn, muts: muts})
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read journal log: %w", err)
		}
	}
	slices.SortFunc(recs, func(a, b record) int { return cmpU64(a.lsn, b.lsn) })
	if len(recs) > 0 {
		s.log.Info("replaying write-ahead log", "records", len(recs))
		if err := s.apply(recs); err != nil {
			return err
		}
		applied = recs[len(recs)-1].lsn
	}
	s.lsn = applied
	for i := range s.wal {
		f, err := os.OpenFile(s.walPath(i), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("journal log: %w", err)
		}
		s.wal[i] = f
	}
	return nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MetaKeyAppliedLSN records how far the write-ahead log has been applied.
const MetaKeyAppliedLSN = "applied-lsn"

func (s *Store) apply(recs []record) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range recs {
			for _, m := range r.muts {
				b := tx.Bucket(bucketNames[Bucket(m.bucket)])
				if b == nil {
					return fmt.Errorf("unknown bucket %d", m.bucket)
				}
				var err error
				if m.del {
					err = b.Delete(m.key)
				} else {
					err = b.Put(m.key, m.val)
				}
				if err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bucketNames[Meta]).Put([]byte(MetaKeyAppliedLSN), u64(recs[len(recs)-1].lsn))
	})
	if err != nil {
		return fmt.Errorf("apply journal log to database: %w", err)
	}
	return nil
}

// Commit makes b durable against a crash of this process and visible to
// readers of the database once the committer has folded it in. On error
// (a full disk) nothing of b was recorded.
func (s *Store) Commit(b *Batch) error {
	if len(b.muts) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lsn := s.lsn + 1
	s.buf = encodeRecord(s.buf[:0], lsn, b.muts)
	f := s.wal[s.cur]
	if f == nil {
		return errors.New("cache is closed")
	}
	if n, err := f.Write(s.buf); err != nil {
		if n > 0 {
			// A short write leaves a torn record; cut it off so later records stay readable.
			if terr := f.Truncate(s.size); terr == nil {
				f.Seek(s.size, 0)
			}
		}
		return fmt.Errorf("write journal log: %w", err)
	}
	s.size += int64(len(s.buf))
	s.lsn = lsn
	s.pending = append(s.pending, record{lsn: lsn, muts: b.muts})
	for _, m := range b.muts {
		if Bucket(m.bucket) == Nodes && len(m.key) == 8 {
			if s.unfolded == nil {
				s.unfolded = map[uint64]unfoldedNode{}
			}
			s.unfolded[beU64(m.key)] = unfoldedNode{lsn: lsn, val: m.val, del: m.del}
		}
	}
	s.pendLen += len(s.buf)
	if s.pendLen > 8<<20 {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Sync makes every batch committed so far durable against power loss.
func (s *Store) Sync() error {
	s.mu.Lock()
	files := s.wal
	s.mu.Unlock()
	for _, f := range files {
		if f == nil {
			continue
		}
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("sync journal log: %w", err)
		}
	}
	return nil
}

func (s *Store) committer() {
	defer close(s.stopped)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
		if err := s.fold(); err != nil {
			s.log.Error("fold journal log into database", "err", err)
		}
	}
}

// fold moves everything pending into bbolt and empties the log it was in.
func (s *Store) fold() error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	recs, old := s.pending, s.cur
	s.pending, s.pendLen = nil, 0
	s.cur = 1 - s.cur
	// Empty unless an earlier apply failed and left its records there.
	s.size, _ = s.wal[s.cur].Seek(0, io.SeekEnd)
	s.mu.Unlock()
	if err := s.apply(recs); err != nil {
		// Keep the records: put them back in front, the log still has them.
		s.mu.Lock()
		s.pending = append(recs, s.pending...)
		s.mu.Unlock()
		return err
	}
	// bbolt has fsynced; the old log is no longer needed.
	s.mu.Lock()
	defer s.mu.Unlock()
	last := recs[len(recs)-1].lsn
	for id, u := range s.unfolded {
		if u.lsn <= last {
			delete(s.unfolded, id)
		}
	}
	if f := s.wal[old]; f != nil {
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, 0)
		return err
	}
	return nil
}

// Fold applies everything committed so far to the database now.
func (s *Store) Fold() error { return s.fold() }

// Close folds the log into the database and releases the directory.
func (s *Store) Close() error {
	close(s.stop)
	<-s.stopped
	err := s.fold()
	s.mu.Lock()
	for i, f := range s.wal {
		if f != nil {
			f.Close()
			s.wal[i] = nil
		}
	}
	s.mu.Unlock()
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	s.lock.Close()
	return err
}

// Dir is the cache directory.
func (s *Store) Dir() string { return s.dir }

// View runs fn in a read-only transaction on what has been folded into the
// database. Callers that need their own latest commits visible call Fold first.
func (s *Store) View(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// BucketOf returns the bbolt bucket for bk inside tx.
func BucketOf(tx *bolt.Tx, bk Bucket) *bolt.Bucket { return tx.Bucket(bucketNames[bk]) }

// GetUint reads a uint64 stored under name in the Meta bucket (0 if absent).
func (s *Store) GetUint(name string) uint64 {
	var v uint64
	s.db.View(func(tx *bolt.Tx) error {
		if b := BucketOf(tx, Meta).Get([]byte(name)); len(b) == 8 {
			v = beU64(b)
		}
		return nil
	})
	return v
}

// IsNoSpace reports whether err is the disk being full.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
