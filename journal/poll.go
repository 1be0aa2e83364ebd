package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	bolt "go.etcd.io/bbolt"
)

// PollConfig tunes the poller.
type PollConfig struct {
	Interval time.Duration // between polls of the change log
	// Window: log objects this much older than the newest one applied are
	// read again, to catch writers whose clocks or uploads lag.
	Window time.Duration
	// Retention: log objects older than this are deleted (by any device);
	// a device away longer reconciles with a full listing instead.
	Retention time.Duration
	// RescanInterval: a full reconciliation listing this often (0: never).
	RescanInterval time.Duration
	// MaxDeletePercent and MaxDeleteMin: a poll or rescan deleting more
	// than this share of the mount's files, and at least MaxDeleteMin
	// files, holds the deletes until ConfirmDeletes.
	MaxDeletePercent int
	MaxDeleteMin     int
	// ReadOnly: the download mode. Nothing is written to the remote, not
	// even the expiry of old log objects.
	ReadOnly bool
	// UploadOnly: the backup mode. Remote changes never touch the mount;
	// rescans only look for files this device uploaded that are gone from
	// the remote, and upload them again.
	UploadOnly bool
}

// PollStats is the poller's part of `ferry status`.
type PollStats struct {
	LastPoll   time.Time `json:"last_poll,omitzero"`
	Watching   bool      `json:"watching"` // the remote reports its changes itself
	LastRescan time.Time `json:"last_rescan,omitzero"`
	Applied    uint64    `json:"remote_changes_applied"`
	// NotApplied counts remote changes that failed to apply (the next
	// rescan tries again); ApplyError is the last such failure.
	NotApplied   uint64   `json:"remote_changes_not_applied,omitempty"`
	ApplyError   string   `json:"apply_error,omitempty"`
	PollError    string   `json:"poll_error,omitempty"`
	HeldDeletes  []string `json:"held_deletes,omitempty"`
	SkippedKeys  []string `json:"skipped_keys,omitempty"`
	LogsReadLast int      `json:"-"`
}

const (
	metaKeyCursor   = "poll-cursor" // nanoseconds of the newest log object applied
	metaKeyLastPoll = "last-poll"   // nanoseconds of the last poll before the mount stopped
)

// poller state lives in the Uploader, guarded by pollMu.
type pollState struct {
	cfg    PollConfig
	cursor time.Time
	floor  time.Time            // a new cache's import covers the log before this
	seen   map[string]time.Time // log objects applied or skipped, within the window
	stats  PollStats
	held   []Change    // deletes held by the mass-delete guard
	recent []time.Time // remote deletes applied within deleteWindow, oldest first
	kick   chan struct{}
}

// Synced reports whether this cache has polled the remote before.
func (u *Uploader) Synced() bool { return u.store.GetUint(metaKeyCursor) != 0 }

// StartPolling starts pulling remote changes. It needs the remote's area and
// a Tree; without them it does nothing.
func (u *Uploader) StartPolling(cfg PollConfig) {
	if u.area == nil || u.cfg.Tree == nil || cfg.Interval <= 0 {
		return
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	synced := u.Synced()
	u.pollMu.Lock()
	u.poll = &pollState{cfg: cfg, seen: map[string]time.Time{}, kick: make(chan struct{}, 1),
		cursor: time.Unix(0, int64(u.store.GetUint(metaKeyCursor)))}
	u.loadHeld()
	if u.poll.cursor.Unix() <= 0 {
		u.poll.cursor = u.started // a new cache: the import covered what came before
		u.poll.floor = u.started
		u.saveCursor(u.poll.cursor)
	}
	u.pollMu.Unlock()
	u.wg.Add(1)
	go u.pollLoop()
	if w, ok := u.remote.(remote.Watcher); ok {
		// Wait for the watch to be in place, so that what changes on the
		// remote once the mount is up is never missed.
		ready := make(chan struct{})
		u.wg.Add(1)
		go u.watchLoop(w, synced, ready)
		select {
		case <-ready:
		case <-time.After(watchSetup):
			u.log.Warn("watching the remote takes long; the mount starts meanwhile")
		}
	}
}

func (u *Uploader) saveCursor(t time.Time) {
	b := new(cache.Batch)
	b.SetUint(metaKeyCursor, uint64(t.UnixNano()))
	u.commit(b)
}

func (u *Uploader) pollLoop() {
	defer u.wg.Done()
	ps := u.poll
	// Expiry waits its first hour: a remount sends nothing but the poll.
	lastRescan, lastExpire := time.Now(), time.Now()
	timer := time.NewTimer(u.firstPoll(ps.cfg.Interval))
	for {
		select {
		case <-u.ctx.Done():
			u.pollMu.Lock()
			last := ps.stats.LastPoll
			u.pollMu.Unlock()
			if !last.IsZero() {
				b := new(cache.Batch)
				b.SetUint(metaKeyLastPoll, uint64(last.UnixNano()))
				u.commit(b)
			}
			return
		case <-timer.C:
		case <-ps.kick:
		}
		if err := u.PollOnce(u.ctx); err != nil && u.ctx.Err() == nil {
			u.log.Warn("poll remote changes", "err", err)
		} else {
			u.settlePending(u.ctx)
			u.removeStrays(u.ctx)
		}
		if ri := ps.cfg.RescanInterval; ri > 0 && time.Since(lastRescan) >= ri {
			lastRescan = time.Now()
			u.rescan()
		}
		if !ps.cfg.ReadOnly && time.Since(lastExpire) >= time.Hour {
			lastExpire = time.Now()
			u.expireLog(u.ctx)
		}
		timer.Reset(ps.cfg.Interval)
	}
}

// firstPoll is how long the first poll waits: the interval keeps its beat
// across a remount, so a mount stopped and started again within one
// interval polls when the stopped one would have, not at once. A cache that
// never polled, or one whose mount crashed, polls at once.
func (u *Uploader) firstPoll(interval time.Duration) time.Duration {
	last := u.store.GetUint(metaKeyLastPoll)
	if last == 0 {
		return 0
	}
	b := new(cache.Batch)
	b.Delete(cache.Meta, []byte(metaKeyLastPoll)) // a crash from here on polls at once
	u.commit(b)
	wait := time.Until(time.Unix(0, int64(last)).Add(interval))
	return min(max(wait, 0), interval)
}

// PollOnce reads the change log from the cursor and applies what other
// devices changed. An idle poll is one listing request.
func (u *Uploader) PollOnce(ctx context.Context) error {
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	ps := u.poll
	if ps == nil {
		return errors.New("polling is not enabled for this remote")
	}
	ps.stats.LastPoll = time.Now()
	if time.Since(ps.cursor) > ps.cfg.Retention {
		// Away longer than the log is kept: only a full listing can tell.
		u.pollMu.Unlock()
		err := u.Rescan(ctx)
		u.pollMu.Lock()
		if err != nil {
			return err
		}
		ps.cursor = time.Now()
		u.saveCursor(ps.cursor)
		return nil
	}
	from := ps.cursor.Add(-ps.cfg.Window)
	if from.Before(ps.floor) {
		from = ps.floor
	}
	var names []string
	err := u.area.ListArea(ctx, logPrefix, logAfter(from), 0, func(o remote.AreaObject) error {
		if _, done := ps.seen[o.Name]; !done {
			names = append(names, o.Name)
		}
		return nil
	})
	if err != nil {
		ps.stats.PollError = err.Error()
		return err
	}
	ps.stats.PollError = ""
	var changes []Change
	newest := ps.cursor
	for _, name := range names {
		t, dev, ok := parseLogName(name)
		if !ok {
			ps.seen[name] = time.Now()
			continue
		}
		if dev != u.cfg.DeviceID {
			data, err := u.area.GetArea(ctx, name)
			if errors.Is(err, remote.ErrNotFound) {
				ps.seen[name] = t
				continue
			}
			if err != nil {
				return err
			}
			var lo logObject
			if err := json.Unmarshal(data, &lo); err != nil {
				u.log.Warn("skip unreadable change log object", "name", name, "err", err)
			} else {
				for _, c := range lo.Changes {
					c.At = t
					changes = append(changes, c)
				}
			}
		}
		ps.seen[name] = t
		if t.After(newest) {
			newest = t
		}
	}
	if ps.cfg.UploadOnly {
		// Remote changes never touch the mount; only this device's own
		// files gone from the remote go up again.
		err = u.reupload(u.ownGone(ctx, changes))
	} else {
		err = u.applyChanges(u.recheck(ctx, changes))
	}
	if err != nil {
		return err
	}
	if newest.After(ps.cursor) {
		ps.cursor = newest
		u.saveCursor(newest)
	} else if quiet := ps.stats.LastPoll.Add(-ps.cfg.Window); time.Since(ps.cursor) > ps.cfg.Retention/2 && quiet.After(ps.cursor) {
		// Nothing new for a long while. The cursor moves on all the same,
		// as if a log object had come just now: otherwise a quiet remote
		// looks like a long absence, and the mount lists all of it.
		ps.cursor = quiet
		u.saveCursor(quiet)
	}
	for name, t := range ps.seen {
		if t.Before(ps.cursor.Add(-2 * ps.cfg.Window)) {
			delete(ps.seen, name)
		}
	}
	return nil
}

// recheck replaces each put in changes at a path this device's own
// uploads touched lately with what the remote holds there now: the log
// entry may be older than this device's own change, which superseded it
// (a conditional write of this device saw that version and replaced or
// deleted it), and applying it would bring back what is gone. A mkdir
// there stays only if the remote has the directory. Callers hold pollMu.
func (u *Uploader) recheck(ctx context.Context, changes []Change) []Change {
	if len(changes) == 0 {
		return changes
	}
	oldest := changes[0].At
	for _, c := range changes {
		if c.At.Before(oldest) {
			oldest = c.At
		}
	}
	touched := u.touched(oldest.Add(-u.poll.cfg.Window), nil)
	out := changes[:0:0]
	for i, c := range changes {
		if c.Op == changeMkdir && touched(c.Path) {
			// This device moved or removed it since, maybe: only a
			// directory the remote still has comes back.
			if e, err := u.remote.Stat(ctx, c.Path); !errors.Is(err, remote.ErrNotFound) && (err != nil || e.Dir) {
				out = append(out, c)
			}
			continue
		}
		if c.Op != changePut || !touched(c.Path) {
			out = append(out, c)
			continue
		}
		// Asked first: an upload that lands after the Stat must count.
		id, dir, here := u.cfg.Tree.NodeAt(c.Path)
		uploading := here && u.pendingFor(id)
		e, err := u.remote.Stat(ctx, c.Path)
		switch {
		case errors.Is(err, remote.ErrNotFound):
			// Gone since: a later entry says how, or this device did it.
			// A later entry that moves or deletes this very version
			// needs it in place: without it, the one this device holds
			// there (which the put replaced) counts as another version
			// than the one taken, and stays.
			// Only a file the mount shows there needs it: applying the
			// put for nothing would make its directories here, which the
			// move or delete then leaves behind. Not one with an upload
			// of its own on the way either: the put did not replace
			// that, and the upload, conditional, finds out what did. (It
			// may land before the put is applied, which then takes it
			// for a version the put replaced.)
			if here && !dir && !uploading && takenLater(changes[i+1:], c) {
				out = append(out, c)
			}
			continue
		case err != nil:
			// Not checked: applied as logged, rather than lost with a
			// batch already marked seen.
			u.log.Warn("recheck a remote change", "path", c.Path, "err", err)
			out = append(out, c)
		case e.Version == c.Version:
			out = append(out, c)
		default:
			if now, ok := u.pullChange(e); ok {
				now.At = c.At
				out = append(out, now)
			}
		}
	}
	return out
}

// takenLater reports whether one of later moves or deletes the version
// the put p left at its path.
func takenLater(later []Change, p Change) bool {
	if p.Version == "" {
		return false
	}
	for _, c := range later {
		if c.Path != p.Path || c.Dir {
			continue
		}
		switch {
		case c.Op == changeMove && c.Was == p.Version,
			c.Op == changeDelete && c.Version == p.Version:
			return true
		case c.Op == changePut, c.Op == changeMove, c.Op == changeDelete:
			return false // another version came or went there first
		}
	}
	return false
}

// applyChanges applies changes in order, holding deletes when there are
// too many of them. Callers hold pollMu.
func (u *Uploader) applyChanges(changes []Change) error {
	defer u.cfg.Tree.Settle()
	ps := u.poll
	deletes := 0
	for _, c := range changes {
		if c.Op == changeDelete && !u.isHeld(c.Path) {
			deletes++
		}
	}
	hold := len(ps.held) > 0 || u.tooManyDeletes(deletes)
	held := 0
	for _, c := range changes {
		if c.Op == changeDelete && (hold || u.isHeld(c.Path)) {
			if u.hold(c) {
				held++
			}
			continue
		}
		if c.Op == changeDelete {
			ps.recent = append(ps.recent, time.Now())
		}
		u.log.Debug("remote change", "op", c.Op, "path", c.Path, "to", c.To, "version", c.Version)
		if err := u.ApplyChange(c); err != nil {
			u.log.Warn("apply remote change", "op", c.Op, "path", c.Path, "err", err)
			ps.stats.NotApplied++
			ps.stats.ApplyError = fmt.Sprintf("%s %s: %v", c.Op, c.Path, err)
			continue
		}
		ps.stats.Applied++
	}
	if held > 0 {
		u.saveHeld()
		u.log.Warn("holding remote deletes: too many at once; run ferry sync --confirm-deletes to apply them", "count", held)
	}
	return nil
}

// deleteWindow: the mass-delete guard weighs the deletes applied this
// recently together with new ones, so a mass delete that arrives over
// several polls is held all the same.
const deleteWindow = 5 * time.Minute

// tooManyDeletes applies the mass-delete guard to n new deletes. Callers
// hold pollMu.
func (u *Uploader) tooManyDeletes(n int) bool {
	ps := u.poll
	cfg := ps.cfg
	if n == 0 || cfg.MaxDeletePercent <= 0 || cfg.MaxDeletePercent >= 100 {
		return false
	}
	cut := time.Now().Add(-deleteWindow)
	for len(ps.recent) > 0 && ps.recent[0].Before(cut) {
		ps.recent = ps.recent[1:]
	}
	n += len(ps.recent)
	total := u.countUploaded() + len(ps.recent)
	return n >= max(cfg.MaxDeleteMin, 1) && n*100 > total*cfg.MaxDeletePercent
}

// isHeld reports whether a delete of p is held.
func (u *Uploader) isHeld(p string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.heldAt[p]
	return ok
}

// hold holds the delete c, once per path. Callers hold pollMu.
func (u *Uploader) hold(c Change) bool {
	if u.isHeld(c.Path) {
		return false
	}
	if c.At.IsZero() {
		c.At = time.Now()
	}
	u.poll.held = append(u.poll.held, c)
	u.mu.Lock()
	u.heldAt[c.Path] = c.At
	u.mu.Unlock()
	return true
}

const metaKeyHeld = "held-deletes"

// saveMeta stores v as JSON under key in the metadata bucket; an empty
// slice (or nil) removes the key.
func (u *Uploader) saveMeta(key string, v any) {
	b := new(cache.Batch)
	data, _ := json.Marshal(v)
	if string(data) == "null" || string(data) == "[]" {
		data = nil
		b.Delete(cache.Meta, []byte(key))
	} else {
		b.Put(cache.Meta, []byte(key), data)
	}
	u.metaMu.Lock()
	defer u.metaMu.Unlock()
	u.metaSaved[key] = data
	u.commit(b)
}

// loadMeta reads into v what saveMeta stored under key, if anything. The
// store's reads see only what it folded; what this run saved is read back
// as saved.
func (u *Uploader) loadMeta(key string, v any) {
	u.metaMu.Lock()
	data, saved := u.metaSaved[key]
	u.metaMu.Unlock()
	if !saved {
		u.store.View(func(tx *bolt.Tx) error {
			data = bytes.Clone(cache.BucketOf(tx, cache.Meta).Get([]byte(key)))
			return nil
		})
	}
	if data != nil {
		json.Unmarshal(data, v)
	}
}

// saveHeld persists the held deletes, so that a remount keeps them.
// Callers hold pollMu.
func (u *Uploader) saveHeld() {
	u.saveMeta(metaKeyHeld, u.poll.held)
}

// loadHeld reads the held deletes a previous run saved. Callers hold pollMu.
func (u *Uploader) loadHeld() {
	var held []Change
	u.loadMeta(metaKeyHeld, &held)
	for _, c := range held {
		u.hold(c)
	}
}

// fetchHeld reads the content of a file whose remote delete is held from
// the recycle bin, where the deleting device put it.
func (u *Uploader) fetchHeld(ctx context.Context, p string) ([]byte, error) {
	u.mu.Lock()
	at, ok := u.heldAt[p]
	u.mu.Unlock()
	if !ok || u.area == nil {
		return nil, remote.ErrNotFound
	}
	for _, d := range []time.Time{at, at.Add(-24 * time.Hour), at.Add(24 * time.Hour)} {
		b, err := u.area.GetArea(ctx, "trash/"+d.UTC().Format("2006-01-02")+"/"+p)
		if !errors.Is(err, remote.ErrNotFound) {
			return b, err
		}
	}
	return nil, remote.ErrNotFound
}

// countUploaded is how many files the remote holds as far as ferry knows.
func (u *Uploader) countUploaded() int {
	n := 0
	u.store.View(func(tx *bolt.Tx) error {
		n = cache.BucketOf(tx, cache.Uploaded).Stats().KeyN
		return nil
	})
	return n
}

// ConfirmDeletes applies the deletes the mass-delete guard held.
func (u *Uploader) ConfirmDeletes() (int, error) {
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	if u.poll == nil {
		return 0, nil
	}
	defer u.cfg.Tree.Settle()
	held := u.poll.held
	u.poll.held = nil
	u.mu.Lock()
	clear(u.heldAt)
	u.mu.Unlock()
	u.saveHeld()
	for _, c := range held {
		if err := u.ApplyChange(c); err != nil {
			return 0, err
		}
	}
	return len(held), nil
}

// PollStats returns the poller's state for `ferry status`.
func (u *Uploader) PollStats() PollStats {
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	var s PollStats
	if u.poll != nil {
		s = u.poll.stats
		for _, c := range u.poll.held {
			s.HeldDeletes = append(s.HeldDeletes, c.Path)
		}
	}
	if sk, ok := u.remote.(remote.Skipper); ok {
		s.SkippedKeys = sk.Skipped()
	}
	s.Watching = u.watching.Load()
	return s
}

// Kick makes the poller poll now.
func (u *Uploader) Kick() {
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	if u.poll != nil {
		select {
		case u.poll.kick <- struct{}{}:
		default:
		}
	}
}

// expireLog deletes the log objects older than the retention, whichever
// device wrote them.
func (u *Uploader) expireLog(ctx context.Context) {
	cutoff := time.Now().Add(-u.poll.cfg.Retention)
	var old []string
	err := u.area.ListArea(ctx, logPrefix, "", 0, func(o remote.AreaObject) error {
		t, dev, ok := parseLogName(o.Name)
		if !ok || !t.Before(cutoff) {
			return errStopList
		}
		// Any device's: one away this long lists the remote instead, and
		// one that never comes back would leave its log for good. Another
		// device's, a day later than its own: this clock may run ahead.
		if dev == u.cfg.DeviceID || t.Before(cutoff.Add(-expiryMargin)) {
			old = append(old, o.Name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopList) {
		u.log.Warn("expire change log", "err", err)
		return
	}
	for _, name := range old {
		// Another device may be expiring the same objects.
		if err := u.area.DeleteArea(ctx, name); err != nil && !errors.Is(err, remote.ErrNotFound) {
			u.log.Warn("expire change log", "err", err)
			return
		}
	}
}

var errStopList = errors.New("stop listing")

// expiryMargin: how much longer than the retention another device's log
// objects are kept.
const expiryMargin = 24 * time.Hour

// Rescan compares a full listing of the remote with what the mount knows
// and applies the differences: the way to see changes made by other tools.
func (u *Uploader) Rescan(ctx context.Context) error {
	w, ok := u.remote.(remote.Walker)
	if !ok || u.cfg.Tree == nil {
		return errors.New("this remote cannot be rescanned")
	}
	u.store.Fold()
	start := time.Now()
	// Only files known before the listing started can be missing from it.
	known := u.uploadedPaths()
	seen := map[string]bool{}
	var changes []Change
	err := w.Walk(ctx, func(e remote.Entry) error {
		seen[e.Path] = true
		if c, ok := u.pullChange(e); ok {
			changes = append(changes, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rescan: %w", err)
	}
	// Files ferry knows on the remote that the listing did not show were
	// deleted there.
	for _, p := range known {
		if !seen[p] {
			changes = append(changes, Change{Op: changeDelete, Path: p})
		}
	}
	u.pollMu.Lock()
	defer u.pollMu.Unlock()
	if u.poll == nil {
		u.poll = &pollState{seen: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	}
	u.poll.stats.LastRescan = time.Now()
	return u.applyListed(changes, start)
}

// applyListed applies what a listing taken since start found different,
// but for paths this device's own uploads touched meanwhile. In the backup
// mode that only means uploading again what went missing. Callers hold
// pollMu.
func (u *Uploader) applyListed(changes []Change, start time.Time) error {
	changes = u.untouched(changes, start, nil)
	if u.poll.cfg.UploadOnly {
		return u.reupload(changes)
	}
	return u.applyChanges(changes)
}

// rescan is Rescan for the background loops: a failure is logged.
func (u *Uploader) rescan() {
	if err := u.Rescan(u.ctx); err != nil && u.ctx.Err() == nil {
		u.log.Warn("rescan remote", "err", err)
	}
}

// versionAt returns the version of the file at remote path p that this
// device knows from a node no longer there (one replaced by a rename, say),
// or nothing if there is none or the path is empty on the remote. The
// version of the node the mount shows at p is not for others to use. The
// remote's current version counts as known when its content is the one
// this device knew: a rename on a folder remote changes the version alone.
func (u *Uploader) versionAt(ctx context.Context, p string) (string, bool, error) {
	e, err := u.remote.Stat(ctx, p)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	v, known := u.knownVersion(p, e)
	return v, known, nil
}

// knownVersion is versionAt for the entry e the remote has at p.
func (u *Uploader) knownVersion(p string, e remote.Entry) (string, bool) {
	var live uint64
	if u.cfg.Tree != nil {
		live, _, _ = u.cfg.Tree.NodeAt(p)
	}
	recs := u.records()
	var best uploaded
	for id, up := range recs {
		if up.Path == p && up.Version != "" && id != live && (best.Version == "" || up.Saved > best.Saved) {
			best = up
		}
	}
	// Content this device uploaded is its own, whatever the record's path
	// (a crash can leave a directory rename's records at the old paths),
	// unless the mount still shows that file, at its own path or at one a
	// rename here gave it (its move may wait): then the remote has a copy
	// of it at p that is someone else's.
	for id, up := range recs {
		if e.Hash == "" || up.Hash != e.Hash || id == live {
			continue
		}
		if u.cfg.Tree != nil {
			if _, err := u.src.NodeMeta(id); !errors.Is(err, ErrGone) {
				continue
			}
		}
		return e.Version, true
	}
	if best.Version != "" {
		return best.Version, true // the remote has moved on: a conditional write fails
	}
	return "", false
}

// records returns the uploaded records, by node.
func (u *Uploader) records() map[uint64]uploaded {
	recs := map[uint64]uploaded{}
	u.store.View(func(tx *bolt.Tx) error {
		return cache.BucketOf(tx, cache.Uploaded).ForEach(func(k, v []byte) error {
			var up uploaded
			if json.Unmarshal(v, &up) == nil {
				recs[cache.KeyValue(k)] = up
			}
			return nil
		})
	})
	u.mu.Lock()
	for id, up := range u.known {
		if up == nil {
			delete(recs, id)
		} else {
			recs[id] = *up
		}
	}
	u.mu.Unlock()
	return recs
}

// uploadedPaths lists the remote paths of the files ferry uploaded or adopted.
func (u *Uploader) uploadedPaths() []string {
	recs := u.records()
	paths := make([]string, 0, len(recs))
	for _, up := range recs {
		paths = append(paths, up.Path)
	}
	return paths
}

// ownGone returns, as deletes, the changes in a poll of the log that took
// away a version this device uploaded and still shows: deleted, or moved
// elsewhere, by another device.
func (u *Uploader) ownGone(ctx context.Context, changes []Change) []Change {
	var gone []Change
	for _, c := range changes {
		v := c.Version
		switch {
		case c.Dir:
			continue
		case c.Op == changeMove:
			v = c.Was
		case c.Op != changeDelete:
			continue
		}
		id, dir, ok := u.cfg.Tree.NodeAt(c.Path)
		if !ok || dir {
			continue
		}
		up, known := u.loadUploaded(id)
		if !known || up.Path != c.Path || (v != "" && v != up.Version) {
			continue
		}
		// Gone now, not only then: someone may have put a file there since.
		if _, err := u.remote.Stat(ctx, c.Path); errors.Is(err, remote.ErrNotFound) {
			gone = append(gone, Change{Op: changeDelete, Path: c.Path})
		}
	}
	return gone
}

// reupload uploads again the files a rescan found deleted on the remote,
// and ignores every other remote change: the backup mode. Callers hold
// pollMu.
func (u *Uploader) reupload(changes []Change) error {
	for _, c := range changes {
		if c.Op != changeDelete {
			continue
		}
		id, dir, ok := u.cfg.Tree.NodeAt(c.Path)
		if !ok || dir || u.pendingFor(id) {
			continue
		}
		u.saveUploaded(id, nil)
		if err := u.cfg.Tree.Republish(id, ""); err != nil {
			return err
		}
		u.log.Info("uploading again a file deleted on the remote", "path", c.Path)
	}
	return nil
}
