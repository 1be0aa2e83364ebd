package journal

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-fs/ferry/cache"
	"github.com/ferry-fs/ferry/remote"
	"github.com/zeebo/blake3"
	bolt "go.etcd.io/bbolt"
)

// Config tunes the uploader.
type Config struct {
	Transfers  int           // actions run in parallel
	WriteBack  time.Duration // wait this long after a node's last change
	MaxDone    int           // done ops kept for history
	MaxBackoff time.Duration
	Log        *slog.Logger
	// Device names this mount in conflict copies; DeviceID tells its
	// change-log objects apart from other devices' (unique per cache).
	Device, DeviceID string
	// Tree applies remote changes and conflict copies to the mount. Without
	// it (or without a remote.Area) the sync is one way.
	Tree Tree
	// KeepDeletes: local deletes stay local (the upload mode's default).
	KeepDeletes bool
	// UploadOnly: the backup mode. A conflict never touches the mount:
	// the remote's version is kept beside it on the remote instead.
	UploadOnly bool
}

// Stats is a snapshot of the uploader for `ferry status`.
type Stats struct {
	PendingOps    int       `json:"pending_ops"`
	PendingBytes  int64     `json:"pending_bytes"`
	Running       int       `json:"running"`
	FailedOps     int       `json:"failed_ops"`
	Retrying      int       `json:"retrying"`
	LastUpload    time.Time `json:"last_upload,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	UploadedOps   uint64    `json:"uploaded_ops"`
	UploadedBytes int64     `json:"uploaded_bytes"`
	Conflicts     int       `json:"conflicts"` // conflict copies made this run
}

// Uploader replays the journal to a remote.
type Uploader struct {
	store  *cache.Store
	j      *Journal
	remote remote.Remote
	src    Source
	cfg    Config
	log    *slog.Logger

	watching atomic.Bool // the remote's watcher reports its changes

	hashers sync.Pool // of *hasher

	metaMu    sync.Mutex        // guards metaSaved
	metaSaved map[string][]byte // what saveMeta wrote this run, by key (nil: removed)

	// mu guards everything below.
	mu       sync.Mutex
	plan     *planner
	known    map[uint64]*uploaded   // uploaded records written this run
	progress map[uint64]*inProgress // resumable uploads written this run
	running  map[*action]bool       // actions under way
	// done: when an action last finished at each remote path, for the
	// last hour, so that a listing taken meanwhile is not mistaken for
	// someone else's change (see touched).
	done map[string]time.Time
	// donePruned: when done was last swept of entries over an hour old.
	donePruned time.Time
	failed     int
	doneSeqs   []uint64 // done ops kept for history, oldest first
	flushSeq   uint64   // ops up to here skip the write-back delay
	extraSeq   uint64   // the newest op the uploader itself journaled (conflict copies)
	waiters    []chan struct{}
	// movesBegun and movesEnded count the remote moves applied here: from
	// before each changes the tree, and from after it told the uploader
	// (movesDone is broadcast then). An action that finds its file gone
	// from its path, with a move since it started or under way then, runs
	// again where the move took it (see rebasedMeanwhile).
	movesBegun, movesEnded uint64
	movesDone              *sync.Cond // on mu
	stats                  Stats
	wake                   chan struct{}
	work                   chan *action // to the Transfers workers; never full (see dispatch)
	ctx                    context.Context
	cancel                 context.CancelFunc
	wg                     sync.WaitGroup
	closed                 bool

	// The change log, see changes.go. area is nil when the remote has none.
	area    remote.Area
	outbox  []Change // guarded by mu
	logSeq  uint64   // guarded by mu
	logWake chan struct{}
	logMu   sync.Mutex // serialises log writes

	started time.Time // when the uploader started: a new cache polls from here
	// heldAt: the paths whose remote delete the mass-delete guard holds,
	// and when the delete was logged. Guarded by mu.
	heldAt map[string]time.Time
	// deletedWhile: remote deletes that a poll could not apply to a file
	// whose upload ran, by node: the version deleted may be the one that
	// upload made (see put). Guarded by mu.
	deletedWhile map[uint64]Change

	pollMu   sync.Mutex // serialises polls and rescans; guards poll
	settleMu sync.Mutex // guards the lists the polls retry: directory moves to settle (settleLater), versions to remove (removeLater)
	poll     *pollState // nil until StartPolling
}

// NewUploader loads the pending ops of the journal and starts replaying them.
func NewUploader(store *cache.Store, j *Journal, r remote.Remote, src Source, cfg Config) (*Uploader, error) {
	if cfg.Transfers <= 0 {
		cfg.Transfers = 8
	}
	if cfg.MaxDone <= 0 {
		cfg.MaxDone = 10000
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	u := &Uploader{store: store, j: j, remote: r, src: src, cfg: cfg, log: cfg.Log,
		plan: newPlanner(), running: map[*action]bool{}, known: map[uint64]*uploaded{}, progress: map[uint64]*inProgress{},
		wake: make(chan struct{}, 1), work: make(chan *action, cfg.Transfers), ctx: ctx, cancel: cancel, logWake: make(chan struct{}, 1),
		heldAt: map[string]time.Time{}, metaSaved: map[string][]byte{}, deletedWhile: map[uint64]Change{}}
	u.started = time.Now()
	u.movesDone = sync.NewCond(&u.mu)
	if a, ok := r.(remote.Area); ok && cfg.DeviceID != "" {
		u.area = a
	}
	if err := store.Fold(); err != nil {
		cancel()
		return nil, err
	}
	var pending []*Op
	err := store.View(func(tx *bolt.Tx) error {
		return cache.BucketOf(tx, cache.Journal).ForEach(func(k, v []byte) error {
			op := new(Op)
			if err := json.Unmarshal(v, op); err != nil {
				return fmt.Errorf("journal entry %d: %w", cache.KeyValue(k), err)
			}
			switch op.State {
			case Pending:
				pending = append(pending, op)
			case Done:
				u.doneSeqs = append(u.doneSeqs, op.Seq)
			case Failed, Conflict:
				u.failed++
			}
			return nil
		})
	})
	if err != nil {
		cancel()
		return nil, err
	}
	if len(pending) > 0 {
		u.log.Info("resuming pending journal ops", "ops", len(pending))
	}
	u.plan.replay = true
	u.enqueue(pending)
	u.plan.replay = false
	j.setSink(u.enqueue)
	u.wg.Add(2 + cfg.Transfers)
	go u.loop()
	go u.writeLog()
	for range cfg.Transfers {
		go u.worker()
	}
	return u, nil
}

// worker runs the actions dispatch starts. Workers live as long as the
// uploader: a goroutine per action paid for growing its stack through the
// remote's client again every time.
func (u *Uploader) worker() {
	defer u.wg.Done()
	for {
		select {
		case <-u.ctx.Done():
			return
		case a := <-u.work:
			u.run(a)
		}
	}
}

// enqueue plans newly committed ops.
func (u *Uploader) enqueue(ops []*Op) {
	if u.log.Enabled(context.Background(), slog.LevelDebug) {
		for _, op := range ops {
			u.log.Debug("journal", "seq", op.Seq, "op", string(op.Kind), "node", op.Node, "path", op.Path, "to", op.Path2, "size", op.Size)
		}
	}
	u.mu.Lock()
	var dropped []*Op
	for _, op := range ops {
		u.stats.PendingOps++
		u.stats.PendingBytes += op.Size
		dropped = append(dropped, u.plan.add(op)...)
	}
	u.mu.Unlock()
	if len(dropped) > 0 {
		u.finish(dropped, "coalesced: nothing to do on the remote", "", nil)
	}
	u.poke()
}

func (u *Uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *Uploader) loop() {
	defer u.wg.Done()
	timer := time.NewTimer(time.Hour)
	for {
		next := u.dispatch(time.Now())
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), time.Millisecond)
		}
		timer.Reset(wait)
		select {
		case <-u.ctx.Done():
			return
		case <-u.wake:
		case <-timer.C:
		}
	}
}

// busyWindow: the mount counts as busy this long after its latest change.
const busyWindow = 250 * time.Millisecond

// dispatchWindow bounds how many waiting actions one dispatch looks at.
// Without it, a queue of thousands of actions blocked behind one running
// mkdir is rescanned after every completion: quadratic in the queue. The
// oldest action is always inside the window, so the queue still drains.
const dispatchWindow = 512

// dispatch starts every action that may run now and returns when the next
// waiting action becomes eligible.
func (u *Uploader) dispatch(now time.Time) (next time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return time.Time{}
	}
	blocked := newPathSet()
	busyNodes := map[uint64]bool{}
	block := func(a *action) {
		for _, p := range a.paths() {
			blocked.add(p)
		}
		busyNodes[a.node] = true
	}
	for a := range u.running {
		block(a)
	}
	slots := u.cfg.Transfers - len(u.running)
	// Uploads yield to the people using the mount: while changes keep coming
	// (an untar, a build), one upload at a time, unless a flush asked.
	busyUntil := u.j.lastAdded().Add(busyWindow)
	busy := now.Before(busyUntil) && u.flushSeq < u.j.lastSeq()
	if busy {
		slots = min(slots, 1-len(u.running))
		next = busyUntil
	}
	scanned := 0
	for _, a := range u.plan.acts {
		if slots <= 0 || scanned == dispatchWindow {
			break
		}
		if a == nil || a.running {
			continue
		}
		scanned++
		due := a.last.Add(u.cfg.WriteBack)
		if a.maxSeq <= u.flushSeq {
			due = now
		}
		if a.notBefore.After(due) {
			due = a.notBefore
		}
		if due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			if a.notBefore.IsZero() && a.maxSeq > u.flushSeq && a.ops[0].Time.Add(u.cfg.WriteBack).After(now) {
				// Everything after this was first touched later still: not due either.
				break
			}
			block(a)
			continue
		}
		free := !busyNodes[a.node]
		for _, p := range a.paths() {
			if blocked.relates(p) {
				free = false
			}
		}
		block(a)
		if free {
			u.plan.start(a)
			a.movesBegun, a.movesEnded = u.movesBegun, u.movesEnded
			u.running[a] = true
			slots--
			u.work <- a // at most Transfers are running or queued
		}
	}
	return next
}

func (u *Uploader) run(a *action) {
	note, hash, err := u.execute(u.ctx, a)
	if err == nil {
		u.followMove(a) // while a still runs: its node's next actions wait
	}
	u.mu.Lock()
	delete(u.running, a)
	a.running = false
	if u.closed {
		u.mu.Unlock()
		return
	}
	var rebased []*Op
	if err != nil && !remote.IsPermanent(err) {
		// It runs again: at the paths remote moves gave its files meanwhile.
		for _, rb := range a.rebases {
			rebased = append(rebased, u.plan.rebase(a, rb[0], rb[1])...)
		}
	}
	a.rebases = nil
	switch {
	case err == nil:
		u.plan.remove(a)
		u.noteDone(a)
		u.stats.LastUpload = time.Now()
		u.stats.UploadedOps += uint64(len(a.ops))
		u.mu.Unlock()
		if a.change != nil {
			u.addChange(*a.change)
		}
		for _, c := range a.then {
			u.addChange(c)
		}
		u.log.Debug("uploaded", "action", a.kind.String(), "path", a.path, "to", a.to, "node", a.node, "note", note)
		u.finish(a.ops, note, hash, nil)
	case errors.Is(err, errModified):
		// Modified during upload: try again once it settles. Not a failure.
		a.notBefore = time.Now().Add(u.cfg.WriteBack)
		u.mu.Unlock()
	case remote.IsPermanent(err):
		u.plan.remove(a)
		u.stats.LastError = err.Error()
		u.mu.Unlock()
		u.log.Error("upload failed permanently", "action", a.kind.String(), "path", a.path, "err", err)
		u.finish(a.ops, "", "", err)
	default:
		a.attempts++
		for _, op := range a.ops {
			op.Attempts = a.attempts
			op.Error = err.Error()
		}
		backoff := min(time.Second<<min(a.attempts-1, 20), u.cfg.MaxBackoff)
		backoff += time.Duration(rand.Int64N(int64(backoff)/4 + 1))
		a.notBefore = time.Now().Add(backoff)
		u.stats.LastError = err.Error()
		b := new(cache.Batch)
		for _, op := range a.ops {
			putOp(b, op) // under the lock: a rebase may change them once it is released
		}
		path := a.path
		u.mu.Unlock()
		u.log.Warn("upload failed, will retry", "action", a.kind.String(), "path", path, "attempt", a.attempts, "in", backoff.Round(time.Millisecond), "err", err)
		u.commit(b)
	}
	u.saveOps(rebased)
	u.poke()
}

// followMove moves what action a just put at the path a remote move,
// applied while a ran, took away: a landed after the move, at the old
// path, which the mount no longer shows. As for a file the move's listing
// missed (see applyMove), this device moves it after the directory: at
// once, before the node's next actions (which went to the new path), or,
// failing that, as a rename journaled now.
func (u *Uploader) followMove(a *action) {
	// A remote move under way tells its rebase to the actions running
	// when it ends: wait for it.
	u.mu.Lock()
	for begun := u.movesBegun; u.movesEnded < begun; {
		u.movesDone.Wait()
	}
	landed, to, moved := landedAt(a)
	u.mu.Unlock()
	if !moved || u.cfg.Tree == nil {
		return
	}
	ctx := u.ctx
	e, err := u.remote.Stat(ctx, landed)
	if err != nil {
		return // moved with the directory, or gone; the next rescan tells if not
	}
	if !e.Dir {
		up, ok := u.loadUploaded(a.node)
		if !ok || up.Path != landed || up.Version != e.Version {
			return // someone else's version
		}
		err := u.renameIf(ctx, landed, to, up.Version, remote.Cond{IfNoneMatch: true})
		if err == nil {
			up.Path = to
			u.saveUploaded(a.node, &up)
			u.refreshVersion(ctx, a.node, to, up.Hash)
			mv := Change{Op: changeMove, Path: landed, To: to, Was: up.Version}
			if now, ok := u.loadUploaded(a.node); ok {
				mv.Version, mv.Hash = now.Version, now.Hash
			}
			a.then = append(a.then, mv)
			u.dropParentOf(ctx, a, landed)
			return
		}
		u.log.Debug("move an upload after its directory now; journaled instead", "path", landed, "err", err)
	}
	if err := u.cfg.Tree.Republish(a.node, landed); err != nil {
		u.log.Error("move an upload after its directory", "path", landed, "err", err)
	}
}

// landedAt returns where on the remote running action a writes its node,
// if anywhere, and where the remote moves applied while it ran
// (a.rebases) took that path (moved: elsewhere). Callers hold mu.
func landedAt(a *action) (landed, to string, moved bool) {
	switch a.kind {
	case actPut, actMkdir, actSetMeta:
		landed = a.path
	case actMove:
		landed = a.to
	default:
		return "", "", false
	}
	to = landed
	for _, rb := range a.rebases {
		if np, ok := rebasePath(to, rb[0], rb[1]); ok {
			to, moved = np, true
		}
	}
	return landed, to, moved
}

// saveOps records ops whose fields changed.
func (u *Uploader) saveOps(ops []*Op) {
	if len(ops) == 0 {
		return
	}
	b := new(cache.Batch)
	for _, op := range ops {
		putOp(b, op)
	}
	u.commit(b)
}

// rebase makes the actions waiting at or below from, recorded before the
// remote move from → to that this device just applied, act at the same
// place below to; running ones follow when they stop (see run).
func (u *Uploader) rebase(from, to string) {
	var changed []*Op
	u.mu.Lock()
	for _, a := range u.plan.acts {
		switch {
		case a == nil:
		case a.running:
			a.rebases = append(a.rebases, [2]string{from, to})
		default:
			changed = append(changed, u.plan.rebase(a, from, to)...)
		}
	}
	u.mu.Unlock()
	u.saveOps(changed)
	u.poke()
}

// finish records ops as done (err nil) or failed, and wakes flush waiters.
func (u *Uploader) finish(ops []*Op, note, hash string, err error) {
	now := time.Now()
	b := new(cache.Batch)
	u.mu.Lock()
	for _, op := range ops {
		op.Finished = now
		op.Note = note
		u.stats.PendingOps--
		u.stats.PendingBytes -= op.Size
		if err != nil {
			op.State, op.Error = Failed, err.Error()
			if errors.Is(err, remote.ErrPrecondition) {
				op.State = Conflict
			}
			op.Attempts++
			u.failed++
		} else {
			op.State, op.Error = Done, ""
			if hash != "" && (op.Kind == Write || op.Kind == Create || op.Kind == Truncate || op.Kind == Setattr) {
				op.Hash = hash
			}
			u.doneSeqs = append(u.doneSeqs, op.Seq)
		}
		putOp(b, op)
	}
	for len(u.doneSeqs) > u.cfg.MaxDone {
		b.Delete(cache.Journal, cache.Key(u.doneSeqs[0]))
		u.doneSeqs = u.doneSeqs[1:]
	}
	u.mu.Unlock()
	u.commit(b)
	u.notifyWaiters()
}

func (u *Uploader) commit(b *cache.Batch) {
	if err := u.store.Commit(b); err != nil {
		u.log.Error("record upload state", "err", err)
	}
}

func (u *Uploader) notifyWaiters() {
	u.mu.Lock()
	ws := u.waiters
	u.waiters = nil
	u.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// changed returns a channel closed at the next change of upload state.
func (u *Uploader) changed() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	ch := make(chan struct{})
	u.waiters = append(u.waiters, ch)
	return ch
}

// Flush waits until every op recorded so far has left the pending state,
// skipping the write-back delay. It returns the failed ops, if any.
func (u *Uploader) Flush(ctx context.Context) ([]*Op, error) {
	target := u.j.lastSeq()
	u.mu.Lock()
	u.flushSeq = max(u.flushSeq, target)
	u.mu.Unlock()
	u.poke()
	for {
		ch := u.changed()
		if !u.pendingUpTo(target) {
			// Conflict copies made meanwhile belong to this flush too.
			u.mu.Lock()
			extra := u.extraSeq
			u.flushSeq = max(u.flushSeq, extra)
			u.mu.Unlock()
			if extra <= target {
				break
			}
			target = extra
			continue
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("flush: %w", ctx.Err())
		case <-ch:
		case <-time.After(time.Second):
		}
	}
	if u.area != nil {
		if err := u.flushLog(ctx); err != nil {
			return nil, fmt.Errorf("flush: write change log: %w", err)
		}
	}
	u.store.Fold()
	failed, err := List(u.store, Filter{State: Failed})
	if err != nil {
		return nil, err
	}
	conflicts, err := List(u.store, Filter{State: Conflict})
	return append(failed, conflicts...), err
}

func (u *Uploader) pendingUpTo(seq uint64) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range u.plan.acts {
		if a != nil && a.ops[0].Seq <= seq {
			return true
		}
	}
	return false
}

// Stats returns a snapshot of the uploader's state.
func (u *Uploader) Stats() Stats {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.stats
	s.Running = len(u.running)
	s.FailedOps = u.failed
	for _, a := range u.plan.acts {
		if a != nil && a.attempts > 0 {
			s.Retrying++
		}
	}
	return s
}

// Close stops the uploader. Running actions are cancelled; their ops stay
// pending in the journal and resume at the next start.
func (u *Uploader) Close() {
	u.j.setSink(nil)
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.cancel()
	u.wg.Wait()
	u.notifyWaiters()
}

var errModified = errors.New("file changed during upload")

// hasher is a blake3 state and the buffer it reads through, reused from
// one upload to the next: a new pair per file was a third of everything an
// untar made the mount allocate.
type hasher struct {
	h   *blake3.Hasher
	buf []byte
}

// hashContent returns the blake3 hex of c's content.
func (u *Uploader) hashContent(c *Content) (string, error) {
	hs, _ := u.hashers.Get().(*hasher)
	if hs == nil {
		hs = &hasher{h: blake3.New(), buf: make([]byte, 32<<10)}
	}
	defer u.hashers.Put(hs)
	hs.h.Reset()
	if _, err := io.CopyBuffer(hs.h, io.NewSectionReader(c.R, 0, c.Size), hs.buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(hs.h.Sum(nil)), nil
}
