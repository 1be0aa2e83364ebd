package cache

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// abandon simulates kill -9: nothing is folded, files are just dropped.
func (s *Store) abandon() {
	close(s.stop)
	<-s.stopped
	for _, f := range s.wal {
		f.Close()
	}
	s.db.Close()
	s.lock.Close()
}

func openT(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func putNodes(t *testing.T, s *Store, from, to uint64) {
	t.Helper()
	for id := from; id < to; id++ {
		b := new(Batch)
		b.PutNode(&Node{ID: id, Parent: RootID, Name: fmt.Sprint("n", id), Kind: File, Size: int64(id)})
		b.PutDirent(RootID, fmt.Sprint("n", id), id)
		if err := s.Commit(b); err != nil {
			t.Fatal(err)
		}
	}
}

func checkNodes(t *testing.T, s *Store, from, to uint64) {
	t.Helper()
	kids, err := s.LoadChildren(RootID)
	if err != nil {
		t.Fatal(err)
	}
	for id := from; id < to; id++ {
		n, ok, err := s.LoadNode(id)
		if err != nil || !ok || n.Size != int64(id) {
			t.Fatalf("node %d: %+v ok=%v err=%v", id, n, ok, err)
		}
		if kids[fmt.Sprint("n", id)] != id {
			t.Fatalf("dirent n%d missing", id)
		}
	}
}

func TestCommitSurvivesCrash(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	putNodes(t, s, 2, 50)
	if err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	putNodes(t, s, 50, 100) // only in the log
	s.abandon()

	s = openT(t, dir)
	defer s.Close()
	checkNodes(t, s, 2, 100)
}

func TestTornTailIsDropped(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	putNodes(t, s, 2, 10)
	cur := s.walPath(s.cur)
	s.abandon()
	f, err := os.OpenFile(cur, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 0, 40, 1, 2, 3}) // a record cut short
	f.Close()

	s = openT(t, dir)
	checkNodes(t, s, 2, 10)
	putNodes(t, s, 10, 20) // the log is usable after the torn record
	s.abandon()
	s = openT(t, dir)
	defer s.Close()
	checkNodes(t, s, 2, 20)
}

func TestCacheDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	defer s.Close()
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

func TestDeleteIsReplayed(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	putNodes(t, s, 2, 4)
	s.Fold()
	b := new(Batch)
	b.DeleteNode(2)
	b.DeleteDirent(RootID, "n2")
	if err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	s.abandon()
	s = openT(t, dir)
	defer s.Close()
	if _, ok, _ := s.LoadNode(2); ok {
		t.Fatal("deleted node came back")
	}
	checkNodes(t, s, 3, 4)
}

func TestCollectGarbage(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	for _, id := range []uint64{5, 6, 300} {
		f, err := s.OpenContent(id, true)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	n, err := s.CollectGarbage(func(id uint64) bool { return id == 6 })
	if err != nil || n != 2 {
		t.Fatalf("removed %d (%v), want 2", n, err)
	}
	if _, err := os.Stat(s.ContentPath(6)); err != nil {
		t.Fatalf("kept content is gone: %v", err)
	}
}

// TestLoadNodeSeesUnfoldedBatches: a node read back between a commit and
// its fold is the committed one, not bbolt's older copy; a deleted node
// stays deleted.
func TestLoadNodeSeesUnfoldedBatches(t *testing.T) {
	s := openT(t, t.TempDir())
	defer s.Close()
	putNodes(t, s, 10, 11)
	if err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	s.applyMu.Lock() // no fold until the checks are done
	locked := true
	defer func() {
		if locked {
			s.applyMu.Unlock()
		}
	}()
	b := new(Batch)
	b.PutNode(&Node{ID: 10, Parent: RootID, Name: "renamed", Kind: File})
	if err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := s.LoadNode(10); err != nil || !ok || n.Name != "renamed" {
		t.Fatalf("before the fold: %+v %v %v, want the renamed node", n, ok, err)
	}
	b = new(Batch)
	b.DeleteNode(10)
	if err := s.Commit(b); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := s.LoadNode(10); err != nil || ok {
		t.Fatalf("before the fold: %+v %v %v, want no node", n, ok, err)
	}
	s.applyMu.Unlock()
	locked = false
	if err := s.Fold(); err != nil {
		t.Fatal(err)
	}
	if n, ok, err := s.LoadNode(10); err != nil || ok {
		t.Fatalf("after the fold: %+v %v %v, want no node", n, ok, err)
	}
	if len(s.unfolded) != 0 {
		t.Fatalf("%d unfolded records left after the fold", len(s.unfolded))
	}
}
