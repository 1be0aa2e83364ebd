// Package journal is ferry's ordered operation log and the uploader that
// replays it to the remote.
//
// Every mutation of the mount appends an Op in the same cache.Batch that
// updates the metadata tree, so the two never disagree after a crash. The
// uploader turns pending ops into remote actions, coalescing where the
// result is provably the same (see plan.go), and marks each op done or
// failed.
package journal

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-fs/ferry/cache"
	bolt "go.etcd.io/bbolt"
)

// Kind is what an op did.
type Kind string

const (
	Create   Kind = "create"
	Write    Kind = "write" // recorded at close or fsync, not per write call
	Truncate Kind = "truncate"
	Mkdir    Kind = "mkdir"
	Rmdir    Kind = "rmdir"
	Unlink   Kind = "unlink"
	Rename   Kind = "rename"
	Setattr  Kind = "setattr"
	Symlink  Kind = "symlink"
)

// State is where an op is in its life.
type State string

const (
	Pending State = "pending"
	Done    State = "done"
	Failed  State = "failed"
	// Conflict: the remote changed since the uploader last saw it. The
	// remote was not overwritten and the local data is kept.
	Conflict State = "conflict"
)

// Op is one journal entry. Its JSON form is what `ferry journal --json` prints.
type Op struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     Kind      `json:"op"`
	Node     uint64    `json:"node"`
	Dir      bool      `json:"dir,omitempty"`
	Path     string    `json:"path"`
	Path2    string    `json:"path2,omitempty"`    // rename target
	Replaced bool      `json:"replaced,omitempty"` // the rename replaced (deleted) an entry at Path2
	Size     int64     `json:"size"`
	State    State     `json:"state"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	Hash     string    `json:"hash,omitempty"` // blake3 of the uploaded content
	Note     string    `json:"note,omitempty"` // how the uploader carried it out
	Finished time.Time `json:"finished,omitzero"`
}

// MetaKeySeq holds the last sequence number handed out.
const MetaKeySeq = "journal-seq"

// Journal hands out sequence numbers and passes committed ops on.
type Journal struct {
	store *cache.Store

	mu     sync.Mutex // guards the fields below
	seq    uint64
	sink   func([]*Op)
	lastAt time.Time // when the newest op was added
}

// Open reads the last sequence number from store.
func Open(store *cache.Store) *Journal {
	return &Journal{store: store, seq: store.GetUint(MetaKeySeq)}
}

// Add assigns op the next sequence number and records it in b. The caller
// commits b, then hands the op on with Publish. Callers serialise Add and
// Commit (the filesystem's lock does) so that seq order is commit order.
func (j *Journal) Add(b *cache.Batch, op *Op) {
	now := time.Now()
	j.mu.Lock()
	j.seq++
	op.Seq = j.seq
	j.lastAt = now
	j.mu.Unlock()
	if op.Time.IsZero() {
		op.Time = now
	}
	op.State = Pending
	putOp(b, op)
	b.SetUint(MetaKeySeq, op.Seq)
}

// Publish hands committed ops to the uploader, if one is attached.
func (j *Journal) Publish(ops ...*Op) {
	j.mu.Lock()
	sink := j.sink
	j.mu.Unlock()
	if sink != nil && len(ops) > 0 {
		sink(ops)
	}
}

func (j *Journal) setSink(fn func([]*Op)) {
	j.mu.Lock()
	j.sink = fn
	j.mu.Unlock()
}

func putOp(b *cache.Batch, op *Op) {
	v, err := json.Marshal(op)
	if err != nil {
		panic(err) // Op always encodes
	}
	b.Put(cache.Journal, cache.Key(op.Seq), v)
}

// Filter selects ops for List.
type Filter struct {
	State State // "" or "all": every state
	Limit int   // the newest Limit ops; 0: no limit
}

// List returns the ops in the database matching f, oldest first.
func List(store *cache.Store, f Filter) ([]*Op, error) {
	var out []*Op
	err := store.View(func(tx *bolt.Tx) error {
		c := cache.BucketOf(tx, cache.Journal).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			op := new(Op)
			if err := json.Unmarshal(v, op); err != nil {
				return fmt.Errorf("journal entry %d: %w", cache.KeyValue(k), err)
			}
			if f.State != "" && f.State != "all" && op.State != f.State {
				continue
			}
			out = append(out, op)
			if f.Limit > 0 && len(out) >= f.Limit {
				break
			}
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// lastAdded is when the newest op was added.
func (j *Journal) lastAdded() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lastAt
}

func (j *Journal) lastSeq() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.seq
}
