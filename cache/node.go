package cache

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Kind is the type of a node.
type Kind uint8

const (
	File Kind = iota + 1
	Dir
	Symlink
)

// RootID is the id of the mount's root directory.
const RootID = 1

// Node is one file, directory or symlink of the metadata tree. Times are
// nanoseconds since the Unix epoch.
type Node struct {
	ID     uint64            `json:"id"`
	Parent uint64            `json:"p"`
	Name   string            `json:"n"`
	Kind   Kind              `json:"k"`
	Mode   uint32            `json:"m"` // permission and setuid/setgid/sticky bits
	UID    uint32            `json:"u"`
	GID    uint32            `json:"g"`
	Size   int64             `json:"s"`
	Atime  int64             `json:"at"`
	Mtime  int64             `json:"mt"`
	Ctime  int64             `json:"ct"`
	Link   string            `json:"l,omitempty"`
	Xattrs map[string][]byte `json:"x,omitempty"`
	// Absent: the content is on the remote only, fetched at first open.
	Absent bool `json:"ab,omitempty"`
	// Unlisted: a directory whose entries on the remote have not been
	// listed yet (the first mount of a remote lists them lazily).
	Unlisted bool `json:"ul,omitempty"`
	// Pinned: a file whose content is always kept on this device.
	Pinned bool `json:"pin,omitempty"`
}

// PutNode adds n to the batch.
func (b *Batch) PutNode(n *Node) {
	v, err := json.Marshal(n)
	if err != nil {
		panic(err) // Node always encodes
	}
	b.Put(Nodes, Key(n.ID), v)
}

// DeleteNode removes node id.
func (b *Batch) DeleteNode(id uint64) { b.Delete(Nodes, Key(id)) }

// PutDirent links name in parent to child.
func (b *Batch) PutDirent(parent uint64, name string, child uint64) {
	b.Put(Dirents, DirentKey(parent, name), Key(child))
}

// DeleteDirent unlinks name from parent.
func (b *Batch) DeleteDirent(parent uint64, name string) {
	b.Delete(Dirents, DirentKey(parent, name))
}

// SetUint stores v under name in the Meta bucket.
func (b *Batch) SetUint(name string, v uint64) { b.Put(Meta, []byte(name), u64(v)) }

// LoadNode reads node id from the database. ok is false if it does not exist.
// Batches committed but not yet folded count: their records are read first.
func (s *Store) LoadNode(id uint64) (n *Node, ok bool, err error) {
	s.mu.Lock()
	u, pending := s.unfolded[id]
	s.mu.Unlock()
	if pending {
		if u.del {
			return nil, false, nil
		}
		n = new(Node)
		if err := json.Unmarshal(u.val, n); err != nil {
			return nil, false, fmt.Errorf("node %d: %w", id, err)
		}
		return n, true, nil
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		v := BucketOf(tx, Nodes).Get(Key(id))
		if v == nil {
			return nil
		}
		n = new(Node)
		if err := json.Unmarshal(v, n); err != nil {
			return fmt.Errorf("node %d: %w", id, err)
		}
		ok = true
		return nil
	})
	return n, ok, err
}

// LoadChildren returns the entries of directory parent, name -> child id.
func (s *Store) LoadChildren(parent uint64) (map[string]uint64, error) {
	kids := map[string]uint64{}
	prefix := Key(parent)
	err := s.db.View(func(tx *bolt.Tx) error {
		c := BucketOf(tx, Dirents).Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= 8 && beU64(k[:8]) == parent; k, v = c.Next() {
			kids[string(k[8:])] = beU64(v)
		}
		return nil
	})
	return kids, err
}

// ForEachNode calls fn for every node in the database.
func (s *Store) ForEachNode(fn func(n *Node) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return BucketOf(tx, Nodes).ForEach(func(k, v []byte) error {
			n := new(Node)
			if err := json.Unmarshal(v, n); err != nil {
				return fmt.Errorf("node %d: %w", beU64(k), err)
			}
			return fn(n)
		})
	})
}
