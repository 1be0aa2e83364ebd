package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	bolt "go.etcd.io/bbolt"
)

// Tree is what two-way sync needs of the mount: changes that come from the
// remote, applied without journaling, and conflict copies, which are
// journaled as new entries. The filesystem implements it.
type Tree interface {
	// NodeAt returns the node at path.
	NodeAt(path string) (id uint64, dir, ok bool)
	// NodesUnder returns the node at path and everything below it.
	NodesUnder(path string) []uint64
	// FilesUnder counts the files and symlinks below the directory path.
	FilesUnder(path string) int
	// ApplyEntry makes the node at e.Path match e (content absent) and
	// returns its id, which is new if the old node was open or missing.
	ApplyEntry(e remote.Entry) (uint64, error)
	// RemoveAt removes the node at path and everything below it, if it
	// is node id (0: whatever node is there).
	RemoveAt(path string, id uint64) error
	// MoveAt moves the node at from to to.
	MoveAt(from, to string) error
	// ApplyMeta gives file id the modification time and permissions of
	// the remote entry e, whose content it has.
	ApplyMeta(id uint64, e remote.Entry) error
	// ConflictCopy renames node id with suffix and journals it as new.
	ConflictCopy(id uint64, suffix string) (string, error)
	// Republish journals node id as created at its path (from ""), to
	// upload it again, or as renamed there from from, to move the remote's
	// file at from.
	Republish(id uint64, from string) error
	// Settle returns once the kernel has heard of the changes made so far.
	Settle()
}

// pendingFor reports whether any of ids has an upload action waiting or
// running.
func (u *Uploader) pendingFor(ids ...uint64) bool {
	want := map[uint64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range u.plan.acts {
		if a != nil && want[a.node] {
			return true
		}
	}
	return false
}

// deleting reports whether a delete of version v at path p waits or runs.
func (u *Uploader) deleting(p, v string) bool {
	var ids []uint64
	u.mu.Lock()
	for _, a := range u.plan.acts {
		if a != nil && a.kind == actDelete && a.path == p {
			ids = append(ids, a.node)
		}
	}
	u.mu.Unlock()
	for _, id := range ids {
		if up, ok := u.loadUploaded(id); ok && up.Path == p && up.Version == v {
			return true
		}
	}
	return false
}

// movingAway reports whether a move of the directory p, or of one above
// it, or an rmdir of p, waits or runs.
func (u *Uploader) movingAway(p string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range u.plan.acts {
		if a != nil && (a.kind == actMove && a.dir && (a.path == p || isBelow(p, a.path)) || a.kind == actRmdir && a.path == p) {
			return true
		}
	}
	return false
}

// pendingBesides reports whether a's node has actions other than a.
func (u *Uploader) pendingBesides(a *action) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, b := range u.plan.acts {
		if b != nil && b != a && b.node == a.node {
			return true
		}
	}
	return false
}

// dropPending removes the waiting actions of node id and marks their ops
// done with note: something else (a conflict copy, the remote's version)
// replaces them. A running one is marked dropped: an upload under way must
// not stay at the old name (see put).
// It returns the waiting actions it removed.
func (u *Uploader) dropPending(id uint64, note string) (removed []*action) {
	var ops []*Op
	u.mu.Lock()
	for _, a := range u.plan.acts {
		switch {
		case a == nil || a.node != id:
		case a.running:
			a.dropped = true
		default:
			u.plan.remove(a)
			removed = append(removed, a)
			ops = append(ops, a.ops...)
		}
	}
	u.mu.Unlock()
	if len(ops) > 0 {
		u.finish(ops, note, "", nil)
	}
	return removed
}

// conflictSuffix is what a conflict copy adds to a name.
func (u *Uploader) conflictSuffix() string {
	return fmt.Sprintf(" (conflict %s %s)", time.Now().Format("2006-01-02 150405"), u.cfg.Device)
}

// keepBoth resolves "both sides changed node id": the local version becomes
// a conflict copy (uploaded as a new file) and the remote version e takes
// the name. It returns the path of the copy.
func (u *Uploader) keepBoth(id uint64, e remote.Entry) (string, error) {
	here, err := u.contentHere(id)
	if err != nil {
		return "", err
	}
	if !here {
		// Nothing of it is here to keep (deleted here since, or never
		// downloaded): theirs simply takes the name.
		u.dropReplaced(id, "superseded by the remote version")
		u.saveUploaded(id, nil)
		return "", u.takeRemote(e, id)
	}
	copyPath, err := u.stepAside(id, e.Path)
	if err != nil {
		return "", fmt.Errorf("conflict copy of %s: %w", e.Path, err)
	}
	u.log.Warn("conflict: both sides changed; kept both", "path", e.Path, "local copy", copyPath)
	if err := u.takeRemote(e, id); err != nil {
		return copyPath, err
	}
	u.mu.Lock()
	u.stats.Conflicts++
	u.mu.Unlock()
	return copyPath, nil
}

// stepAside moves the file id at p, changed here, to a conflict name,
// where it goes up as a new file, and returns that name: its own pending
// upload at the old name is dropped and its record forgotten. A file whose
// content was never downloaded has nothing to go up as a copy: a conflict
// name would show it here alone. It goes, and returns no name; what the
// remote has takes its place, as in keepBoth.
func (u *Uploader) stepAside(id uint64, p string) (string, error) {
	u.dropReplaced(id, "superseded by a conflict copy")
	u.saveUploaded(id, nil)
	if exists, here, err := u.contentOf(id); err != nil {
		return "", err
	} else if exists && !here {
		return "", u.cfg.Tree.RemoveAt(p, id)
	}
	return u.conflictCopy(id, u.conflictSuffix())
}

// dropReplaced is dropPending for a file that steps aside as a conflict
// copy, or gives its name to the remote's version. A rename among its
// actions, waiting to go up, was what would have taken the file's version
// at its old name away on the remote: that version is taken away now, or
// it stays there for good, and other devices show a file this one no
// longer has. Only when its content is here, to go up as the copy:
// otherwise the old name holds the only one, and shows here again.
func (u *Uploader) dropReplaced(id uint64, note string) {
	up, known := u.loadUploaded(id)
	renamed := false
	for _, a := range u.dropPending(id, note) {
		renamed = renamed || a.kind == actMove && a.path == up.Path
	}
	if !renamed || !known || up.Version == "" {
		return
	}
	exists, here, err := u.contentOf(id)
	if err != nil || !exists {
		return
	}
	if !here {
		if err := u.showAgain(up.Path); err != nil {
			u.log.Warn("a rename dropped for a conflict: its old name does not show again", "path", up.Path, "err", err)
		}
		return
	}
	if err := u.removeVersion(u.ctx, up.Path, up.Version); err != nil {
		if remote.IsPermanent(err) {
			u.log.Warn("a rename dropped for a conflict copy: its old name stays on the remote", "path", up.Path, "err", err)
			return
		}
		u.removeLater(up.Path, up.Version)
	}
}

// showAgain makes the mount show the file the remote has at p, where a
// rename dropped here had taken it from: no change log entry brings it
// back. A file made here at p since stays: its own upload meets the
// remote's version.
func (u *Uploader) showAgain(p string) error {
	if _, _, taken := u.cfg.Tree.NodeAt(p); taken {
		return nil
	}
	e, err := u.remote.Stat(u.ctx, p)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return nil // gone there since: later entries say
	case err != nil:
		return err
	case e.Dir:
		return nil
	}
	return u.takeRemote(e, 0)
}

// removeVersion takes version v at p away on the remote and logs the
// delete. Gone or changed there since, it is not this device's to take.
func (u *Uploader) removeVersion(ctx context.Context, p, v string) error {
	err := u.remote.Delete(ctx, p, remote.Cond{IfMatch: v})
	switch {
	case err == nil:
		u.addChange(Change{Op: changeDelete, Path: p, Version: v})
	case errors.Is(err, remote.ErrNotFound), errors.Is(err, remote.ErrPrecondition):
		return nil
	}
	return err
}

const metaKeyStrays = "stray-versions"

// removeLater remembers version v at p, which removeVersion could not take
// away yet, for the polls to remove (removeStrays). It survives a remount.
func (u *Uploader) removeLater(p, v string) {
	u.settleMu.Lock()
	defer u.settleMu.Unlock()
	var strays []Change
	u.loadMeta(metaKeyStrays, &strays)
	u.saveMeta(metaKeyStrays, append(strays, Change{Op: changeDelete, Path: p, Version: v}))
}

// removeStrays removes the versions removeLater remembered, and forgets
// each one removed or for good not this device's to remove. Like
// settlePending, it uses the network with no lock held.
func (u *Uploader) removeStrays(ctx context.Context) {
	var strays, done []Change
	u.settleMu.Lock()
	u.loadMeta(metaKeyStrays, &strays)
	u.settleMu.Unlock()
	for _, c := range strays {
		err := u.removeVersion(ctx, c.Path, c.Version)
		if err != nil {
			u.log.Warn("take away a version left at an old name", "path", c.Path, "err", err)
		}
		if err == nil || remote.IsPermanent(err) {
			done = append(done, c)
		}
	}
	if len(done) == 0 {
		return
	}
	u.settleMu.Lock()
	defer u.settleMu.Unlock()
	var left []Change
	u.loadMeta(metaKeyStrays, &left)
	left = slices.DeleteFunc(left, func(c Change) bool { return slices.Contains(done, c) })
	u.saveMeta(metaKeyStrays, left)
}

// takeRemote makes the mount show the remote entry e at e.Path. A file
// there other than self (the node the caller is settling) with an upload
// of its own on the way crossed e: both stay, as when a poll finds them
// crossing, and e takes the name.
func (u *Uploader) takeRemote(e remote.Entry, self uint64) error {
	if !e.Dir {
		if id, dir, ok := u.cfg.Tree.NodeAt(e.Path); ok && !dir && id != self && u.pendingFor(id) {
			_, err := u.keepBoth(id, e)
			return err
		}
	}
	nid, err := u.cfg.Tree.ApplyEntry(e)
	if err != nil {
		return fmt.Errorf("apply remote %s: %w", e.Path, err)
	}
	if !e.Dir {
		u.Adopt(nid, e)
	}
	return nil
}

// ApplyChange brings one change made on the remote by another device into
// the mount. It is idempotent: a change already applied does nothing.
func (u *Uploader) ApplyChange(c Change) error {
	switch c.Op {
	case changePut:
		return u.applyPut(c.entry(c.Path))
	case changeMkdir:
		return u.applyMkdir(c.entry(c.Path))
	case changeDelete:
		return u.applyDelete(c.Path, c.Version)
	case changeRmdir:
		return u.applyRmdir(c.Path)
	case changeMove:
		return u.applyMove(c)
	}
	return nil
}

func (u *Uploader) applyPut(e remote.Entry) error {
	e.Dir = false
	id, dir, ok := u.cfg.Tree.NodeAt(e.Path)
	u.log.Debug("apply remote put", "path", e.Path, "version", e.Version, "node", id, "pending", ok && u.pendingFor(id))
	if e.Version != "" && u.deleting(e.Path, e.Version) {
		return nil // old news: this device deleted that version, and says so soon
	}
	if u.movingAway(e.Path) {
		// This device moves the directory above it away, which takes
		// it along; the move then shows what it took (settleMoved).
		return nil
	}
	if !ok {
		return u.takeRemote(e, 0)
	}
	if dir {
		// A directory here, a file there: the local one steps aside.
		if _, err := u.conflictCopy(id, u.conflictSuffix()); err != nil {
			return err
		}
		return u.takeRemote(e, id)
	}
	up, known := u.loadUploaded(id)
	if known && up.Path == e.Path && (up.Version == e.Version || (e.Hash != "" && up.Hash == e.Hash && up.Pending == "")) {
		if up.Version != e.Version {
			u.Adopt(id, e) // same content, new version (a metadata change)
		}
		// A metadata change keeps the version on S3, whose ETag is the
		// content's MD5: the mtime and mode tell.
		if !u.pendingFor(id) {
			if err := u.cfg.Tree.ApplyMeta(id, e); err != nil && !errors.Is(err, ErrLocalChanges) {
				return err
			}
		}
		return nil
	}
	if u.pendingFor(id) {
		_, err := u.keepBoth(id, e)
		return err
	}
	err := u.takeRemote(e, id)
	if errors.Is(err, ErrKind) || errors.Is(err, ErrLocalChanges) {
		_, err = u.keepBoth(id, e)
		return err
	}
	if nid, _, _ := u.cfg.Tree.NodeAt(e.Path); err == nil && nid != id {
		// A new node took id's place (a file became a symlink, or the
		// file was open): the versions recorded are not id's any more.
		u.saveUploaded(id, nil)
	}
	return err
}

func (u *Uploader) applyMkdir(e remote.Entry) error {
	e.Dir = true
	if u.movingAway(e.Path) {
		return nil // old news: this device moves that directory away, and the move takes it along
	}
	id, dir, ok := u.cfg.Tree.NodeAt(e.Path)
	if ok && !dir {
		if _, err := u.stepAside(id, e.Path); err != nil {
			return err
		}
	}
	return u.takeRemote(e, 0)
}

// applyDelete applies the remote delete of the file at p. With a version,
// only that version was deleted: a file here that this device knows as
// another version (uploaded after the delete) stays.
func (u *Uploader) applyDelete(p, version string) error {
	id, dir, ok := u.cfg.Tree.NodeAt(p)
	if !ok || dir {
		return nil
	}
	up, known := u.loadUploaded(id)
	u.log.Debug("apply remote delete", "path", p, "version", version, "node", id, "known", up.Version)
	if version != "" && known && up.Path == p && up.Version != "" && up.Version != version {
		return u.survive(id, p, version, up)
	}
	if known && up.Path != p && u.pendingFor(id) {
		// Renamed here onto p, its move still to go up: the delete took
		// what the rename replaces, not this file. Its record names the
		// version at the old name, which the move (or a conflict that
		// drops the move, see dropReplaced) must take away there.
		return nil
	}
	u.saveUploaded(id, nil)
	err := ErrLocalChanges
	if !u.pendingFor(id) {
		err = u.cfg.Tree.RemoveAt(p, id)
	}
	if errors.Is(err, ErrLocalChanges) {
		// Edited here, deleted there: the local file stays and goes up again.
		u.log.Info("kept a file deleted on the remote but changed here", "path", p)
		return nil
	}
	return err
}

// survive keeps the file id at p, whose version up is newer than one a
// remote delete took. A delete that the remote cannot make conditional
// (MinIO ignores If-Match on DELETE: it is a pinned copy to the trash,
// then a plain delete) can take a version written between the two: then
// this one goes up again, or, when someone has written p since, becomes a
// conflict copy beside theirs.
func (u *Uploader) survive(id uint64, p, version string, up uploaded) error {
	if u.pendingFor(id) {
		// Its own upload decides. It may have made the very version
		// deleted, landed with its answer still on the way: it hears of
		// the delete when that answer comes (see put).
		u.mu.Lock()
		u.deletedWhile[id] = Change{Op: changeDelete, Path: p, Version: version}
		u.mu.Unlock()
		return nil
	}
	e, err := u.remote.Stat(u.ctx, p)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		u.saveUploaded(id, nil)
		if here, err := u.contentHere(id); err != nil {
			return err
		} else if !here {
			// Only the remote had its content, and it is gone there (or
			// moved: later entries say where): nothing is left to upload
			// again, and a file that reads nothing must not stay, least
			// of all for a move to take elsewhere.
			return u.cfg.Tree.RemoveAt(p, id)
		}
		u.log.Warn("a remote delete took a newer version of a file with it; uploading it again", "path", p)
		return u.cfg.Tree.Republish(id, "")
	case err != nil:
		return err
	case e.Dir || e.Version == up.Version:
		return nil // still there
	}
	_, err = u.keepBoth(id, e)
	return err
}

func (u *Uploader) applyRmdir(p string) error {
	id, dir, ok := u.cfg.Tree.NodeAt(p)
	if !ok || !dir {
		return nil
	}
	// Empty directories inside go with it; a file keeps it.
	if u.cfg.Tree.FilesUnder(p) > 0 || u.pendingFor(u.cfg.Tree.NodesUnder(p)...) {
		return nil
	}
	return u.cfg.Tree.RemoveAt(p, id)
}

func (u *Uploader) applyMove(c Change) error {
	tree := u.cfg.Tree
	id, dir, ok := tree.NodeAt(c.Path)
	if !ok {
		if !c.Dir {
			return u.putMoved(c)
		}
		return nil
	}
	if dir != c.Dir {
		return nil
	}
	if up, known := u.loadUploaded(id); !dir && c.Was != "" && known && up.Path == c.Path && up.Version != "" && up.Version != c.Was {
		// Another version than the one moved is here (the entry is old
		// news, replayed): it stays, and the moved one shows at c.To.
		return u.putMoved(c)
	}
	ids := tree.NodesUnder(c.Path)
	if !dir && u.pendingFor(id) {
		// Changed here, moved there: keep the local file where it is (it
		// goes up again) and show the moved version too. A file renamed
		// here onto c.Path, its move waiting, keeps its record: that
		// names the version at its old name, which the move takes away.
		if up, known := u.loadUploaded(id); !known || up.Path == c.Path {
			u.saveUploaded(id, nil)
		}
		return u.putMoved(c)
	}
	if tid, tdir, taken := tree.NodeAt(c.To); taken {
		if !tdir && u.pendingFor(tid) {
			// Changed here, and someone moved another file onto it: the
			// local one steps aside as a conflict copy.
			if _, err := u.stepAside(tid, c.To); err != nil {
				return err
			}
		} else if !tdir && !dir && u.uploadedSince(tid, c) {
			// This device's own file at the new name went up after the
			// move (the entry is old news, replayed after an absence):
			// it stays, and the move only takes the old name away.
			return u.applyDelete(c.Path, c.Was)
		} else if err := u.applyDelete(c.To, ""); err != nil {
			return err
		}
	}
	u.beginMove()
	defer u.endMove()
	err := tree.MoveAt(c.Path, c.To)
	if errors.Is(err, ErrLocalChanges) && !dir {
		// A file being written here is at the new name: it becomes a
		// conflict copy beside the moved version, and the old name goes.
		if err := u.putMoved(c); err != nil {
			return err
		}
		return u.applyDelete(c.Path, "")
	}
	if err != nil {
		return fmt.Errorf("apply remote move %s → %s: %w", c.Path, c.To, err)
	}
	// The uploaded records follow, so later changes stay conditional.
	other := false
	behind := map[uint64]string{}
	for _, nid := range ids {
		if up, ok := u.loadUploaded(nid); ok && (up.Path == c.Path || isBelow(up.Path, c.Path)) {
			if dir && u.leftBehind(c, up) {
				behind[nid] = up.Path
				continue
			}
			up.Path = c.To + up.Path[len(c.Path):]
			if nid == id && c.Version != "" {
				if c.Hash != "" && up.Hash != "" && up.Hash != c.Hash {
					other = true // they moved a newer version than this one
				} else {
					up.Version = c.Version
				}
			}
			u.saveUploaded(nid, &up)
		}
	}
	if dir {
		// Files this device has moved out of it since, with the move
		// still to go up, moved there all the same.
		inside := map[uint64]bool{}
		for _, nid := range ids {
			inside[nid] = true
		}
		for nid, up := range u.recordsBelow(c.Path) {
			if !inside[nid] && !u.leftBehind(c, up) {
				up.Path = c.To + up.Path[len(c.Path):]
				u.saveUploaded(nid, &up)
			}
		}
		// Changes made here inside it, waiting to go up, follow it.
		u.rebase(c.Path, c.To)
		// Files uploaded here into it after the move listed it are still
		// at their old paths there: this device moves them after it.
		for nid, old := range behind {
			if err := tree.Republish(nid, old); err != nil {
				return err
			}
		}
	}
	if other {
		return u.applyPut(c.entry(c.To))
	}
	return nil
}

// settleMoved makes the mount show below directory to what the remote has
// there, after this device's move a took a directory there (nil: a move
// settled later, see settlePending, or a directory another device made
// where a file of this one stood). The move took the remote's versions,
// which may be newer than the ones shown here: changed on another device
// while this one could not hear of it. Files made or deleted there
// meanwhile come and go too. It reports false when changes here still
// waiting to go up kept some of what it found from the mount: a later
// try shows those once they are up.
func (u *Uploader) settleMoved(ctx context.Context, to string, a *action) (bool, error) {
	u.pollMu.Lock()
	ps := u.poll
	u.pollMu.Unlock()
	if u.cfg.Tree == nil || ps == nil || ps.cfg.UploadOnly {
		return true, nil
	}
	start := time.Now()
	// The files this device knows there: the records of what the mount
	// shows below to, not a decode of every record it has.
	var known []string
	for _, id := range u.cfg.Tree.NodesUnder(to) {
		if up, ok := u.loadUploaded(id); ok && isBelow(up.Path, to) {
			known = append(known, up.Path)
		}
	}
	var changes []Change
	seen := map[string]bool{}
	if err := u.listNew(ctx, remote.Entry{Path: to, Dir: true}, &changes, seen); err != nil {
		return false, err
	}
	for _, p := range known {
		if !seen[p] {
			changes = append(changes, Change{Op: changeDelete, Path: p})
		}
	}
	if len(changes) == 0 {
		return true, nil
	}
	// Changes here waiting to go up, or done since the listing began,
	// win; the move itself does not count.
	found := len(changes)
	if changes = u.untouched(changes, start, a); len(changes) == 0 {
		return false, nil
	}
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	return len(changes) == found, u.applyChanges(changes)
}

const (
	metaKeyUnsettled = "unsettled-moves"
	maxUnsettled     = 100 // directory moves remembered to settle, at most
)

// settleLater remembers directory to, moved on the remote but not yet
// settled, for the polls to settle (settlePending). It survives a remount.
// A path may be there twice: a move remembered while an earlier one at the
// same path is being settled must not be forgotten with it.
func (u *Uploader) settleLater(to string) {
	u.settleMu.Lock()
	defer u.settleMu.Unlock()
	dirs := append(u.unsettled(), to)
	if len(dirs) > maxUnsettled {
		u.log.Warn("too many directory moves to settle: the oldest is dropped; `ferry sync --rescan` shows what the remote has there", "path", dirs[0])
		dirs = dirs[1:]
	}
	u.saveUnsettled(dirs)
}

// settlePending settles the directories settleLater remembered, and forgets
// each one that settles, or that is no longer a directory here or on the
// remote (moved on, or deleted: the change log tells). It lists with no
// lock held, so uploads that remember more moves do not wait for it.
func (u *Uploader) settlePending(ctx context.Context) {
	u.settleMu.Lock()
	dirs := u.unsettled()
	u.settleMu.Unlock()
	var done []string
	for _, to := range dirs {
		if slices.Contains(done, to) {
			continue
		}
		ok, err := u.settleAgain(ctx, to)
		if err != nil {
			u.log.Warn("after moving a directory, show what the remote has there", "path", to, "err", err)
			ok = remote.IsPermanent(err) // retrying will not help
		}
		if ok {
			done = append(done, to)
		}
	}
	if len(done) == 0 {
		return
	}
	u.settleMu.Lock()
	defer u.settleMu.Unlock()
	left := u.unsettled()
	for _, to := range done {
		if i := slices.Index(left, to); i >= 0 {
			left = slices.Delete(left, i, i+1)
		}
	}
	u.saveUnsettled(left)
}

// settleAgain is settleMoved for a move remembered by settleLater, if to
// is still a directory here and on the remote; if not, there is nothing
// left to settle.
func (u *Uploader) settleAgain(ctx context.Context, to string) (bool, error) {
	if u.cfg.Tree == nil {
		return true, nil
	}
	if _, dir, ok := u.cfg.Tree.NodeAt(to); !ok || !dir {
		return true, nil
	}
	e, err := u.remote.Stat(ctx, to)
	switch {
	case errors.Is(err, remote.ErrNotFound), err == nil && !e.Dir:
		return true, nil
	case err != nil:
		return false, err
	}
	return u.settleMoved(ctx, to, nil)
}

// unsettled reads the list settleLater keeps. Callers hold settleMu.
func (u *Uploader) unsettled() []string {
	var dirs []string
	u.loadMeta(metaKeyUnsettled, &dirs)
	return dirs
}

// saveUnsettled replaces the list settleLater keeps. Callers hold settleMu.
func (u *Uploader) saveUnsettled(dirs []string) { u.saveMeta(metaKeyUnsettled, dirs) }

// dirStepsAside resolves a directory made here (a, its mkdir) where another
// device made a file, e: the directory steps aside to a conflict name, with
// everything below it and the actions waiting there, and the file takes the
// name, as a poll that saw the file first would have had it. The error
// makes the mkdir run again, at the new name.
func (u *Uploader) dirStepsAside(a *action, e remote.Entry) error {
	tree := u.cfg.Tree
	if id, dir, ok := tree.NodeAt(a.path); !ok || !dir || id != a.node {
		return u.mkdirWhereMoved(a)
	}
	to, free := u.freeConflictName(a.path, true)
	if !free {
		return fmt.Errorf("mkdir %s: a file is in the way on the remote, and no conflict name is free", a.path)
	}
	if err := tree.MoveAt(a.path, to); err != nil {
		return err
	}
	u.rebase(a.path, to)
	if err := u.takeRemote(e, 0); err != nil {
		return err
	}
	u.log.Warn("conflict: another device made a file where this directory was made; the directory moved aside", "path", a.path, "to", to)
	return fmt.Errorf("mkdir %s: a file is in the way on the remote; the directory moved to %s", a.path, to)
}

// freeConflictName returns the conflict name for p that the mount does not
// show yet, numbered after the first (the last one tried, and false, when
// nine are taken).
func (u *Uploader) freeConflictName(p string, dir bool) (string, bool) {
	parent, base := path.Split(p)
	name, free := FreeConflictName(base, u.conflictSuffix(), dir, func(name string) bool {
		_, _, taken := u.cfg.Tree.NodeAt(parent + name)
		return taken
	})
	return parent + name, free
}

// FreeConflictName returns ConflictName(name, suffix, dir), numbered " 2",
// " 3" ... inside the suffix's parentheses while taken says the name is in
// use: the first free one, or the ninth and false.
func FreeConflictName(name, suffix string, dir bool, taken func(string) bool) (string, bool) {
	c := ""
	for i := 1; i < 10; i++ {
		s := suffix
		if i > 1 {
			s = strings.TrimSuffix(suffix, ")") + fmt.Sprintf(" %d)", i)
		}
		if c = ConflictName(name, s, dir); !taken(c) {
			return c, true
		}
	}
	return c, false
}

// mkdirWhereMoved handles a mkdir refused (a file is in the way) of a
// directory renamed here since, by the user or by a poll that met that
// file first: a rename that waits behind this mkdir and would move the
// remote's path, which is their file. The mkdir goes to where the
// directory went, so do the actions waiting below it, and the rename,
// now of nothing, is dropped.
func (u *Uploader) mkdirWhereMoved(a *action) error {
	to := ""
	u.mu.Lock()
	for _, b := range u.plan.acts {
		if b != nil && !b.running && b.node == a.node && b.kind == actMove && b.path == a.path {
			to = b.to
			break
		}
	}
	u.mu.Unlock()
	if to == "" {
		return fmt.Errorf("mkdir %s: a file is in the way on the remote, and the directory is no longer here: %w", a.path, remote.ErrPermanent)
	}
	u.rebase(a.path, to)
	u.dropPending(a.node, "made at the new name: a file was in the way at the old one")
	return fmt.Errorf("mkdir %s: a file is in the way on the remote; making it where it moved, %s", a.path, to)
}

// lateUpload: how long before a directory move was logged an upload into
// the old directory may have missed the move's listing. Moves of large
// directories take a while, and clocks differ.
const lateUpload = 10 * time.Minute

// leftBehind reports whether the file this device uploaded as up, below
// the directory that the remote move c took away, is still at its old
// path on the remote: uploaded after the move listed the directory. Only
// records saved shortly before the move was logged, or later, are asked.
func (u *Uploader) leftBehind(c Change, up uploaded) bool {
	if up.Version == "" || !c.At.IsZero() && time.Unix(0, up.Saved).Before(c.At.Add(-lateUpload)) {
		return false
	}
	e, err := u.remote.Stat(u.ctx, up.Path)
	return err == nil && !e.Dir && e.Version == up.Version
}

// uploadedSince reports whether file id, which the mount shows at the new
// name of the remote move c, is a version this device uploaded there that
// the remote still holds: not the one the move made, so put there after it.
func (u *Uploader) uploadedSince(id uint64, c Change) bool {
	up, known := u.loadUploaded(id)
	if !known || up.Path != c.To || up.Version == "" || up.Version == c.Version {
		return false
	}
	e, err := u.remote.Stat(u.ctx, c.To)
	return err == nil && !e.Dir && e.Version == up.Version
}

// putMoved shows the file that the remote move c put at c.To, when this
// device cannot move its own copy there. The remote says what is there
// now, if anything: the entry may be old news, and some moves are logged
// without the version they made.
func (u *Uploader) putMoved(c Change) error {
	e, err := u.remote.Stat(u.ctx, c.To)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return nil // moved on or deleted since: later entries say
	case err != nil:
		return err
	case e.Dir:
		return nil
	}
	return u.applyPut(e)
}

func isBelow(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

// ErrKind is the tree's answer when the remote has another kind of entry
// (file, directory, symlink) at a path than the mount.
var ErrKind = errors.New("a different kind of entry is at this path")

// ErrLocalChanges is the tree's answer when a file has changes that are not
// even journaled yet (it is open for writing): it cannot be replaced or
// removed without losing them.
var ErrLocalChanges = errors.New("the file is being changed here")

// conflictOnPut handles a conditional write that failed because someone
// else changed path: the remote version keeps the name and the local one
// becomes a conflict copy; a remote delete means the file goes up again.
func (u *Uploader) conflictOnPut(ctx context.Context, a *action, p string) (string, error) {
	if u.cfg.Tree == nil {
		return "", nil
	}
	if err := u.movedMeanwhile(a, p); err != nil {
		return "", err
	}
	if id, _, ok := u.cfg.Tree.NodeAt(p); !ok || id != a.node {
		up, known := u.loadUploaded(a.node)
		if known && up.Path == p && u.pendingBesides(a) {
			// Moved away here since (its move waits), and the version it
			// knew at p is gone there: nothing took this content's place.
			// Forgotten, the record cannot make the move carry their
			// version or that stale one; the move puts this file up at
			// the new name as one never uploaded (moveUnrecorded).
			u.saveUploaded(a.node, nil)
			return "the remote version changed; the pending move uploads this one at its new name", nil
		}
		// This upload did not land: forget that it might have.
		if known && up.Pending != "" {
			up.Pending = ""
			if up.Version == "" {
				u.saveUploaded(a.node, nil)
			} else {
				u.saveUploaded(a.node, &up)
			}
		}
		return "superseded: another version took this name", nil
	}
	e, err := u.remote.Stat(ctx, p)
	if errors.Is(err, remote.ErrNotFound) {
		return "", u.goneOnRemote(ctx, a, p)
	}
	if err != nil {
		return "", err
	}
	if u.cfg.UploadOnly {
		if e.Dir {
			// A directory there, which the backup keeps (a local rm -r
			// stays local): the file goes up beside it, at a conflict name.
			aside, _ := u.freeConflictName(p, false)
			note, _, err := u.putAt(ctx, a, aside)
			if err == nil {
				note = "a directory is there on the remote: uploaded beside it as " + path.Base(aside)
			}
			return note, err
		}
		return "", u.keepTheirsAside(ctx, a.node, e)
	}
	copyPath, err := u.keepBoth(a.node, e)
	if err != nil {
		return "", err
	}
	if e.Dir {
		// Another device made a directory here: what it holds shows too
		// (its log entries may have come while this file stood there).
		if settled, err := u.settleMoved(ctx, e.Path, nil); err != nil || !settled {
			u.settleLater(e.Path)
		}
	}
	if copyPath == "" {
		return "conflict: the remote version keeps the name; nothing of this one was here", nil
	}
	return "conflict: the remote version keeps the name, this one is " + path.Base(copyPath), nil
}

// deleteConflict handles a delete refused because someone else changed the
// file meanwhile: their version comes back into the mount.
func (u *Uploader) deleteConflict(ctx context.Context, p string) (note, hash string, err error) {
	e, err := u.remote.Stat(ctx, p)
	if errors.Is(err, remote.ErrNotFound) {
		return "already gone on the remote", "", nil
	}
	if err != nil {
		return "", "", err
	}
	if _, _, taken := u.cfg.Tree.NodeAt(p); !taken {
		if err := u.takeRemote(e, 0); err != nil {
			return "", "", err
		}
	}
	u.log.Warn("conflict: a file deleted here was changed on the remote; it is back", "path", p)
	return "conflict: changed on the remote, so it came back", "", nil
}

// Clean reports whether the remote holds node id's content as the cache
// does: uploaded or imported, with no upload of it pending. Only then may
// the cache drop it.
func (u *Uploader) Clean(id uint64) bool {
	up, ok := u.loadUploaded(id)
	return ok && up.Version != "" && up.Pending == "" && !u.pendingFor(id)
}

// moveConflict handles a rename refused because someone else changed the
// file meanwhile. The rename goes ahead with their version, as a directory
// rename carries the files changed inside it: their edit ends up under the
// new name, and the mount shows it (a local edit made since the rename
// becomes a conflict copy). A file deleted there stays deleted, unless
// this device has its content to upload under the new name. The rename
// moves exactly their version (theirs), and replaces at the new name only
// what the first try would have (dst). When the new name has changed
// hands, theirs stays there (see renameOntoTaken); when the old name has
// changed again, the action is tried again from the start.
func (u *Uploader) moveConflict(ctx context.Context, a *action, up uploaded, theirs string, dst remote.Cond) (note, hash string, err error) {
	if exists, _, err := u.contentOf(a.node); err != nil {
		return "", "", err
	} else if !exists && !u.pendingBesides(a) {
		// Gone here since (another rename replaced it), with nothing of
		// it waiting: no file here for their edit to follow. Moved, it
		// would be taken from where they wrote it, to a name this device
		// no longer shows it at; it stays.
		u.saveUploaded(a.node, nil)
		return "gone here since, and changed on the remote: theirs stays where it is", "", nil
	}
	err = u.renameIf(ctx, a.path, a.to, theirs, dst)
	if errors.Is(err, remote.ErrPrecondition) {
		e, serr := u.remote.Stat(ctx, a.to)
		if serr == nil && !e.Dir && (dst.IfNoneMatch || dst.IfMatch != e.Version) {
			return u.renameOntoTaken(ctx, a, up, e)
		}
		return "", "", fmt.Errorf("rename %s to %s: changed on the remote meanwhile, trying again (%v)", a.path, a.to, err)
	}
	if errors.Is(err, remote.ErrNotFound) {
		u.saveUploaded(a.node, nil)
		switch here, err := u.contentHere(a.node); {
		case err != nil:
			return "", "", err
		case here:
			return u.putAt(ctx, a, a.to)
		}
		return "deleted on the remote before the rename: gone", "", u.cfg.Tree.RemoveAt(a.to, a.node) // unless another file took the name here since
	} else if err != nil {
		return "", "", err
	}
	e, err := u.remote.Stat(ctx, a.to)
	if err != nil {
		return "", "", err
	}
	a.change = &Change{Op: changeMove, Path: a.path, To: a.to, Version: e.Version, Hash: e.Hash, Was: theirs}
	if id, _, ok := u.cfg.Tree.NodeAt(a.to); ok && id == a.node && u.pendingBesides(a) {
		if _, err := u.keepBoth(a.node, e); err != nil {
			return "", "", err
		}
		return "conflict: renamed their newer version; this one is a conflict copy", "", nil
	}
	if err := u.takeRemote(e, a.node); err != nil {
		return "", "", err
	}
	return "conflict: renamed their newer version", "", nil
}

// nameMax is the longest name a directory entry may have.
const nameMax = 255

// ConflictName inserts suffix before the extension of a file name:
// "report.txt" + " (conflict …)" is "report (conflict …).txt". Directories
// and names without an extension get it at the end. The result is cut to
// nameMax bytes by shortening the stem.
func ConflictName(name, suffix string, dir bool) string {
	stem, ext := name, ""
	if !dir {
		if i := strings.LastIndexByte(name, '.'); i > 0 {
			stem, ext = name[:i], name[i:]
		}
	}
	if over := len(stem) + len(suffix) + len(ext) - nameMax; over > 0 {
		stem = stem[:max(len(stem)-over, 0)]
		for !utf8.ValidString(stem) {
			stem = stem[:len(stem)-1]
		}
	}
	return stem + suffix + ext
}

// renameOntoTaken handles a file renamed here to a name where someone else
// has meanwhile put a file (e) on the remote. Theirs keeps the name; this
// one moves to a conflict name next to it, on the remote and here.
func (u *Uploader) renameOntoTaken(ctx context.Context, a *action, up uploaded, e remote.Entry) (note, hash string, err error) {
	tree := u.cfg.Tree
	exists, here, err := u.contentOf(a.node)
	if err != nil {
		return "", "", err
	}
	if !exists && !u.pendingBesides(a) {
		return u.renamedAndGone(ctx, a, up)
	}
	onlyThere := exists && !here
	if u.pendingBesides(a) && !onlyThere {
		// Changed here since the rename: upload it as a conflict copy,
		// and take the old name's version away as the rename meant. (A
		// file whose content only the remote holds has nothing here to
		// upload: its later actions, renames or metadata, follow it to
		// the conflict name below instead.)
		if _, err := u.keepBoth(a.node, e); err != nil {
			return "", "", err
		}
		// Logged, or other devices show the old name for good.
		if err := u.removeVersion(ctx, a.path, up.Version); err != nil && !remote.IsPermanent(err) {
			return "", "", err
		}
		return "conflict: the new name was taken on the remote; kept both", "", nil
	}
	to, _ := u.freeConflictName(a.to, false)
	err = u.renameIf(ctx, a.path, to, up.Version, remote.Cond{IfNoneMatch: true})
	if errors.Is(err, remote.ErrPrecondition) || errors.Is(err, remote.ErrNotFound) {
		// ErrNotFound: the source went between the rename's checks.
		src, serr := u.remote.Stat(ctx, a.path)
		if gone := errors.Is(serr, remote.ErrNotFound); gone || serr == nil && src.Version != up.Version {
			// Someone else changed or deleted the file too: the version
			// this device renamed is one they replaced. Both names show
			// what the remote has.
			if err := u.takeRemote(e, a.node); err != nil {
				return "", "", err
			}
			if !gone {
				if err := u.refresh(ctx, a.path); err != nil {
					return "", "", err
				}
			}
			return "conflict: changed on the remote, and the new name taken there; both as the remote has them", "", nil
		}
		if serr != nil {
			return "", "", serr
		}
		// The conflict name was taken on the remote meanwhile.
		return "", "", fmt.Errorf("rename %s to %s: trying again (%v)", a.path, to, err)
	}
	if err != nil {
		return "", "", err
	}
	// The mount shows the file at the new name, unless it was renamed on
	// here since: then it stays where it is, and its waiting actions, made
	// at the new name, act at the conflict name instead.
	moved := false
	if id, _, ok := tree.NodeAt(a.to); ok && id == a.node {
		if err := tree.MoveAt(a.to, to); err != nil {
			return "", "", err
		}
		moved = true
	}
	u.follow(a.node, a.to, to)
	u.refreshVersion(ctx, a.node, to, up.Hash)
	if here, err := u.contentHere(a.node); err == nil && !here && moved && !u.pendingBesides(a) {
		// Only the remote has its content, and the node may show theirs
		// by now (keepBoth gave it to them while this rename ran): it
		// shows what the rename moved there, or reads of it fail. (That
		// keepBoth dropped its waiting actions: one still waiting is a
		// change made here since, which this would undo.)
		if moved, err := u.remote.Stat(ctx, to); err == nil {
			if err := u.takeRemote(moved, a.node); err != nil {
				return "", "", err
			}
		}
	}
	if err := u.takeRemote(e, a.node); err != nil {
		return "", "", err
	}
	// Was: a device that has another version at the old name since
	// keeps it there (see applyMove).
	a.change = &Change{Op: changeMove, Path: a.path, To: to, Was: up.Version}
	if now, ok := u.loadUploaded(a.node); ok {
		a.change.Version, a.change.Hash = now.Version, now.Hash
	}
	u.log.Warn("conflict: renamed onto a name taken on the remote; kept both", "path", a.to, "this one", to)
	u.mu.Lock()
	u.stats.Conflicts++
	u.mu.Unlock()
	return "conflict: the new name was taken on the remote; this one is " + path.Base(to), "", nil
}

// renamedAndGone carries out the rename a, onto a name taken on the
// remote, of a file gone here since with nothing of it left to go up
// (another rename replaced it here): moved to a conflict name, it would
// be a file that other devices show and this one does not. Only the
// version at the old name goes, as the rename meant; changed there since,
// it is not this device's to take.
func (u *Uploader) renamedAndGone(ctx context.Context, a *action, up uploaded) (note, hash string, err error) {
	if err := u.removeVersion(ctx, a.path, up.Version); err != nil {
		return "", "", err
	}
	u.saveUploaded(a.node, nil)
	return "gone here since, and the new name taken on the remote: only the old name's version went", "", nil
}

// follow makes the waiting actions of file id at from, made here after
// this device renamed it to from, act at to, where its rename put it on
// the remote instead: up to the first that moves it on, since later ones
// act where that one took it.
func (u *Uploader) follow(id uint64, from, to string) {
	var changed []*Op
	u.mu.Lock()
	for _, b := range u.plan.acts {
		if b == nil || b.node != id || b.running {
			continue
		}
		if b.path != from {
			break
		}
		changed = append(changed, u.plan.rebase(b, from, to)...)
		if b.kind == actMove || b.kind == actDelete {
			break
		}
	}
	u.mu.Unlock()
	u.saveOps(changed)
}

// movedMeanwhile is an error when the poller applied a remote move of a
// directory above p while a ran, or may have: p is stale, and the next
// attempt goes to the new path.
func (u *Uploader) movedMeanwhile(a *action, p string) error {
	if u.rebasedMeanwhile(a) {
		return fmt.Errorf("%s moved on the remote meanwhile; trying again at its new path", p)
	}
	return nil
}

// rebasedMeanwhile reports whether running action a has a rebase waiting,
// or one may be on its way: a remote move changed the tree since a started,
// and the poller has not told the uploader yet.
func (u *Uploader) rebasedMeanwhile(a *action) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(a.rebases) > 0 || a.movesBegun != a.movesEnded || u.movesBegun != a.movesBegun
}

// beginMove and endMove bracket a remote move applied here, from before
// it changes the tree to after it rebased the actions (see movesBegun).
func (u *Uploader) beginMove() {
	u.mu.Lock()
	u.movesBegun++
	u.mu.Unlock()
}

func (u *Uploader) endMove() {
	u.mu.Lock()
	u.movesEnded++
	u.movesDone.Broadcast()
	u.mu.Unlock()
}

// goneOnRemote handles a file changed here that the remote no longer has
// at p: deleted there, or moved there with its directory. The first time,
// a poll tells which (a move it applies moves this action along, see
// rebase) and the action tries again; after that, the file goes up again
// as a new one.
func (u *Uploader) goneOnRemote(ctx context.Context, a *action, p string) error {
	if err := u.movedMaybe(ctx, a, p); err != nil {
		return err
	}
	u.saveUploaded(a.node, nil)
	a.created = true
	return fmt.Errorf("%s was deleted on the remote; uploading it again", p)
}

// movedMaybe is for action a, which found the remote copy of its file
// gone from p: deleted there, or moved with its directory, which a poll
// tells. The first time, it polls (a move it applies moves a along, see
// rebase) and returns an error, so that a runs again; after that, nil: the
// file was deleted.
func (u *Uploader) movedMaybe(ctx context.Context, a *action, p string) error {
	if a.missing {
		return nil
	}
	a.missing = true
	if err := u.PollOnce(ctx); err != nil {
		u.log.Debug("poll for a file gone from the remote", "path", p, "err", err)
	}
	return fmt.Errorf("%s is gone from the remote; trying again, in case it moved there", p)
}

// theirsWins handles a metadata update refused because someone else
// changed the file's content meanwhile, while only its metadata changed
// here: their version is the newer content, and the mount takes it.
func (u *Uploader) theirsWins(ctx context.Context, id uint64, p string) (note, hash string, err error) {
	e, err := u.remote.Stat(ctx, p)
	if errors.Is(err, remote.ErrNotFound) {
		u.saveUploaded(id, nil)
		if here, err := u.contentHere(id); err != nil {
			return "", "", err
		} else if !here {
			// Only the remote had its content, and it is gone there:
			// nothing is left to upload again, and a file that reads
			// nothing must not stay (as in put, for a rename).
			return "deleted on the remote before it was downloaded: gone", "", u.cfg.Tree.RemoveAt(p, id)
		}
		return "", "", fmt.Errorf("%s was deleted on the remote; uploading it again", p)
	}
	if err != nil {
		return "", "", err
	}
	if nid, _, ok := u.cfg.Tree.NodeAt(p); !ok || nid != id {
		return "superseded: another version took this name", "", nil
	}
	if err := u.takeRemote(e, id); err != nil {
		return "", "", err
	}
	u.log.Warn("conflict: changed on the remote while only its metadata changed here; took their version", "path", p)
	return "conflict: their newer content wins over a metadata change", "", nil
}

// moveRecords rewrites the uploaded records of the files below directory
// from, which a directory rename moved to to on the remote, so that later
// writes and deletes of them stay conditional on their versions.
func (u *Uploader) moveRecords(from, to string) {
	for id, up := range u.recordsBelow(from) {
		up.Path = to + up.Path[len(from):]
		u.saveUploaded(id, &up)
	}
}

// recordsBelow returns the uploaded records of the files below from.
func (u *Uploader) recordsBelow(from string) map[uint64]uploaded {
	u.store.Fold()
	recs := map[uint64]uploaded{}
	u.store.View(func(tx *bolt.Tx) error {
		return cache.BucketOf(tx, cache.Uploaded).ForEach(func(k, v []byte) error {
			var up uploaded
			if json.Unmarshal(v, &up) == nil && isBelow(up.Path, from) {
				recs[cache.KeyValue(k)] = up
			}
			return nil
		})
	})
	u.mu.Lock()
	for id, up := range u.known {
		switch {
		case up == nil:
			delete(recs, id)
		case isBelow(up.Path, from):
			recs[id] = *up
		default:
			delete(recs, id)
		}
	}
	u.mu.Unlock()
	return recs
}

// conflictCopy makes node id a conflict copy (journaled as new), and
// makes flushes under way wait for its upload too.
func (u *Uploader) conflictCopy(id uint64, suffix string) (string, error) {
	p, err := u.cfg.Tree.ConflictCopy(id, suffix)
	if err == nil {
		seq := u.j.lastSeq()
		u.mu.Lock()
		u.extraSeq = max(u.extraSeq, seq)
		if u.flushSeq > 0 {
			u.flushSeq = max(u.flushSeq, seq)
		}
		u.mu.Unlock()
		u.poke()
	}
	return p, err
}

// keepTheirsAside is the backup mode's answer to a conflict: the remote's
// version is copied to a conflict name beside it, on the remote only, and
// the local version goes up under the name (the error makes the upload
// retry against the version it now expects).
func (u *Uploader) keepTheirsAside(ctx context.Context, id uint64, e remote.Entry) error {
	dir, base := path.Split(e.Path)
	suffix := fmt.Sprintf(" (conflict %s remote)", time.Now().Format("2006-01-02 150405"))
	aside := dir + ConflictName(base, suffix, false)
	if _, err := u.remote.Copy(ctx, e.Path, aside); err != nil {
		return err
	}
	u.saveUploaded(id, &uploaded{Path: e.Path, Version: e.Version})
	u.log.Warn("conflict in upload mode: the remote's version is kept beside it", "path", e.Path, "remote copy", aside)
	u.mu.Lock()
	u.stats.Conflicts++
	u.mu.Unlock()
	return fmt.Errorf("%s changed on the remote; its version is kept as %s, uploading this one", e.Path, path.Base(aside))
}
