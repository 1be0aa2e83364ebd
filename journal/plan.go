package journal

import (
	"strings"
	"time"
)

// actKind is what an action does on the remote.
type actKind uint8

const (
	actPut     actKind = iota + 1 // upload the node's current content and metadata to path
	actMkdir                      // create directory path, then set its metadata
	actSetMeta                    // update path's metadata
	actMove                       // rename path to to (a file or a whole directory)
	actDelete                     // delete the file at path
	actRmdir                      // remove the empty directory path
)

var actNames = map[actKind]string{actPut: "put", actMkdir: "mkdir", actSetMeta: "setmeta",
	actMove: "move", actDelete: "delete", actRmdir: "rmdir"}

func (k actKind) String() string { return actNames[k] }

// action is one remote operation standing for one or more journal ops.
type action struct {
	kind     actKind
	node     uint64
	dir      bool
	path, to string
	created  bool // the node did not exist on the remote before these ops
	// replaces: a rename among these ops replaced an entry at the final
	// path (to, for a move), which may still be on the remote. The action
	// must overwrite or delete it, never vanish.
	replaces bool
	ops      []*Op
	last     time.Time // time of the newest op: the write-back delay counts from here
	maxSeq   uint64

	change *Change  // what the executor did, for the change log
	then   []Change // and what it did after, if anything

	pos       int    // index in planner.acts
	order     uint64 // position in journal order, never renumbered
	running   bool
	attempts  int
	notBefore time.Time
	// rebases: remote moves applied here while the action ran, for the
	// paths it keeps if it must run again (see planner.rebase).
	rebases [][2]string
	// movesBegun, movesEnded: the Uploader's counts when it started.
	movesBegun, movesEnded uint64
	// missing: an earlier attempt found the file gone on the remote, and
	// polled in case it had moved there rather than been deleted.
	missing bool
	// dropped: dropPending superseded the action while it ran; stray is a
	// version it left at its path that a retry must remove.
	dropped bool
	stray   string
}

func (a *action) paths() []string {
	if a.kind == actMove {
		return []string{a.path, a.to}
	}
	return []string{a.path}
}

// newAction maps one op to the action that carries it out on its own.
func newAction(op *Op) *action {
	a := &action{node: op.Node, dir: op.Dir, path: op.Path, ops: []*Op{op}, last: op.Time, maxSeq: op.Seq}
	switch op.Kind {
	case Create, Symlink:
		a.kind, a.created = actPut, true
	case Write, Truncate:
		a.kind = actPut
	case Setattr:
		a.kind = actPut
		if op.Dir {
			a.kind = actSetMeta
		}
	case Mkdir:
		a.kind, a.created = actMkdir, true
	case Rmdir:
		a.kind = actRmdir
	case Unlink:
		a.kind = actDelete
	case Rename:
		a.kind, a.to, a.replaces = actMove, op.Path2, op.Replaced
	}
	return a
}

// planner keeps the pending actions in journal order and coalesces each new
// op into the previous action of the same node when that is provably
// equivalent: no action between the two touches any path involved (the same
// path, an ancestor or a descendant), so moving the new op next to the older
// one cannot change the outcome, and the pair collapses as merge() says.
type planner struct {
	acts []*action          // journal order; nil entries are removed actions
	live int                // non-nil entries in acts
	last map[uint64]*action // each node's newest action that is not running
	// replay: the ops being added were pending at startup. A crash may have
	// come after the remote carried them out but before they were marked
	// done, so none of them counts as creating its node on the remote.
	replay bool

	// The newest order of any action that touched a path (exact), or a
	// path or anything below it (under): touchedSince asks them instead of
	// scanning every later action. Entries are not lowered when actions
	// finish, which only ever forbids a merge, never allows a wrong one.
	counter  uint64
	exact    map[string]uint64
	under    map[string]uint64
	exactCnt map[string]int // live actions at the path
	underCnt map[string]int // live actions at the path or below it
}

func newPlanner() *planner {
	return &planner{last: map[uint64]*action{}, exact: map[string]uint64{}, under: map[string]uint64{},
		exactCnt: map[string]int{}, underCnt: map[string]int{}}
}

// index records that a touches its paths (delta +1), or no longer does (-1).
func (p *planner) index(a *action, delta int) {
	for _, q := range a.paths() {
		p.exactCnt[q] += delta
		p.underCnt[q] += delta
		forAncestors(q, func(anc string) { p.underCnt[anc] += delta })
		if delta > 0 {
			p.exact[q] = max(p.exact[q], a.order)
			p.under[q] = max(p.under[q], a.order)
			forAncestors(q, func(anc string) { p.under[anc] = max(p.under[anc], a.order) })
		}
	}
}

// add plans op. It returns the ops that need no remote action at all
// (coalesced away), which the caller marks done.
func (p *planner) add(op *Op) (dropped []*Op) {
	a := newAction(op)
	a.created = a.created && !p.replay
	if l := p.last[op.Node]; l != nil && !l.running && (dirMeta(l, a) && !p.aboveTouchedSince(l) || !p.touchedSince(l, a)) {
		p.index(l, -1) // merge may change its paths
		switch merge(l, a) {
		case mergedInto:
			p.index(l, +1)
			return nil
		case cancelled:
			p.index(l, +1) // remove takes it out again
			p.remove(l)
			return l.ops
		default:
			p.index(l, +1)
		}
	}
	p.counter++
	a.pos, a.order = len(p.acts), p.counter
	p.acts = append(p.acts, a)
	p.live++
	p.index(a, +1)
	p.last[op.Node] = a
	return nil
}

type mergeResult uint8

const (
	separate   mergeResult = iota // keep both actions
	mergedInto                    // l now also carries b
	cancelled                     // l and b together do nothing on the remote
)

// merge folds b into l when l followed by b equals one action.
func merge(l, b *action) mergeResult {
	absorb := func() mergeResult {
		l.ops = append(l.ops, b.ops...)
		l.last, l.maxSeq = b.last, b.maxSeq
		return mergedInto
	}
	switch {
	case l.kind == actPut && b.kind == actPut && l.path == b.path:
		return absorb() // the upload reads the current content anyway
	case l.kind == actPut && l.created && !l.replaces && b.kind == actMove && b.path == l.path:
		l.path, l.replaces = b.to, b.replaces // create + rename: one upload at the final path
		return absorb()
	case l.kind == actPut && b.kind == actDelete && b.path == l.path:
		if l.created && !l.replaces {
			l.ops = append(l.ops, b.ops...)
			return cancelled // create + unlink: nothing reaches the remote
		}
		l.kind = actDelete // what the put would have replaced goes too
		return absorb()
	case (l.kind == actMkdir || l.kind == actSetMeta) && b.kind == actSetMeta && b.path == l.path:
		return absorb()
	case l.kind == actMkdir && l.created && b.kind == actRmdir && b.path == l.path:
		l.ops = append(l.ops, b.ops...)
		return cancelled
	case l.kind == actSetMeta && b.kind == actRmdir && b.path == l.path:
		l.kind = actRmdir
		return absorb()
	case l.kind == actMove && !l.replaces && b.kind == actMove && b.path == l.to:
		l.to, l.replaces = b.to, b.replaces // a chain of renames becomes one
		if l.to == l.path {
			l.ops = append(l.ops, b.ops...)
			return cancelled
		}
		return absorb()
	case l.kind == actMove && !l.replaces && (b.kind == actDelete || b.kind == actRmdir) && b.path == l.to:
		l.kind, l.to = b.kind, "" // rename then delete: delete the source
		return absorb()
	}
	return separate
}

// dirMeta reports whether b only sets the metadata of the directory that l
// creates or sets the metadata of. Actions on paths below it may come
// between: none of them depends on the directory's mtime or mode on the
// remote, and l reads the metadata when it runs. So a directory's final
// setattr (tar sets it after extracting the contents) joins its mkdir.
func dirMeta(l, b *action) bool {
	return b.kind == actSetMeta && (l.kind == actMkdir || l.kind == actSetMeta) && l.path == b.path
}

// aboveTouchedSince reports whether a live action after l involves l's
// path itself or one above it.
func (p *planner) aboveTouchedSince(l *action) bool {
	for _, q := range l.paths() {
		if p.exact[q] > l.order && p.exactCnt[q] > 1 {
			return true
		}
		hit := false
		forAncestors(q, func(anc string) {
			if p.exact[anc] > l.order && p.exactCnt[anc] > 0 {
				hit = true
			}
		})
		if hit {
			return true
		}
	}
	return false
}

// touchedSince reports whether a live action after l involves any path of
// l or b: the same path, one below it, or one above it. The newest order
// seen at a path may belong to an action already gone, so it only counts
// when some action other than l is still there.
func (p *planner) touchedSince(l, b *action) bool {
	mine := l.paths()
	ownUnder := func(q string) (n int) {
		for _, lp := range mine {
			if lp == q || (q == "" || strings.HasPrefix(lp, q+"/")) {
				n++
			}
		}
		return n
	}
	ownExact := func(q string) (n int) {
		for _, lp := range mine {
			if lp == q {
				n++
			}
		}
		return n
	}
	for _, q := range append(mine, b.paths()...) {
		if p.under[q] > l.order && p.underCnt[q] > ownUnder(q) {
			return true
		}
		hit := false
		forAncestors(q, func(anc string) {
			if p.exact[anc] > l.order && p.exactCnt[anc] > ownExact(anc) {
				hit = true
			}
		})
		if hit {
			return true
		}
	}
	return false
}

func (p *planner) remove(a *action) {
	if p.acts[a.pos] == a {
		p.acts[a.pos] = nil
		p.live--
		p.index(a, -1)
	}
	if p.last[a.node] == a {
		delete(p.last, a.node)
	}
	if p.live == 0 {
		clear(p.exact)
		clear(p.under)
		clear(p.exactCnt)
		clear(p.underCnt)
	}
	if len(p.acts) > 1024 && p.live < len(p.acts)/2 {
		p.compact()
	}
}

func (p *planner) compact() {
	n := 0
	for _, a := range p.acts {
		if a != nil {
			a.pos = n
			p.acts[n] = a
			n++
		}
	}
	clear(p.acts[n:])
	p.acts = p.acts[:n]
}

// start marks a as running: later ops of its node start a new action.
func (p *planner) start(a *action) {
	a.running = true
	if p.last[a.node] == a {
		delete(p.last, a.node)
	}
}

// related reports whether a and b are the same path or one contains the other.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == b || a == "" || (strings.HasPrefix(b, a) && b[len(a)] == '/')
}

// pathSet answers "does p relate to any path added so far" in O(depth).
type pathSet struct {
	exact map[string]int
	under map[string]int // paths strictly below the key
}

func newPathSet() *pathSet { return &pathSet{exact: map[string]int{}, under: map[string]int{}} }

func (s *pathSet) add(p string) {
	s.exact[p]++
	forAncestors(p, func(a string) { s.under[a]++ })
}

func (s *pathSet) relates(p string) bool {
	if s.exact[p] > 0 || s.under[p] > 0 {
		return true
	}
	hit := false
	forAncestors(p, func(a string) {
		if s.exact[a] > 0 {
			hit = true
		}
	})
	return hit
}

// forAncestors calls fn for each proper ancestor of p, root ("") included.
func forAncestors(p string, fn func(string)) {
	if p == "" {
		return
	}
	fn("")
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			fn(p[:i])
		}
	}
}

// rebasePath is p moved along with the move from → to: to, or below to,
// when p is from or below it. ok reports whether it moved.
func rebasePath(p, from, to string) (moved string, ok bool) {
	if p == from || isBelow(p, from) {
		return to + p[len(from):], true
	}
	return p, false
}

// rebase moves a waiting action, and its ops, to the paths its files have
// after a remote move from → to that this device applied: the ops were
// recorded before it, at the old paths, but what they change on the remote
// now lives below to. It returns the ops it changed, for the caller to
// record.
func (p *planner) rebase(a *action, from, to string) []*Op {
	np, movedPath := rebasePath(a.path, from, to)
	nt, movedTo := a.to, false
	if a.kind == actMove {
		nt, movedTo = rebasePath(a.to, from, to)
	}
	if !movedPath && !movedTo {
		return nil
	}
	p.index(a, -1)
	a.path, a.to = np, nt
	p.index(a, +1)
	var changed []*Op
	for _, op := range a.ops {
		p1, ok1 := rebasePath(op.Path, from, to)
		p2, ok2 := op.Path2, false
		if op.Path2 != "" {
			p2, ok2 = rebasePath(op.Path2, from, to)
		}
		if ok1 || ok2 {
			op.Path, op.Path2 = p1, p2
			changed = append(changed, op)
		}
	}
	return changed
}
