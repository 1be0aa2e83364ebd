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

	pos       int // index in planner.acts
	running   bool
	attempts  int
	notBefore time.Time
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

// mergeWindow bounds how far back a merge looks; beyond it ops stay separate.
const mergeWindow = 4096

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
}

func newPlanner() *planner { return &planner{last: map[uint64]*action{}} }

// add plans op. It returns the ops that need no remote action at all
// (coalesced away), which the caller marks done.
func (p *planner) add(op *Op) (dropped []*Op) {
	a := newAction(op)
	a.created = a.created && !p.replay
	if l := p.last[op.Node]; l != nil && !l.running && !p.touchedSince(l, a) {
		switch merge(l, a) {
		case mergedInto:
			return nil
		case cancelled:
			p.remove(l)
			return l.ops
		}
	}
	a.pos = len(p.acts)
	p.acts = append(p.acts, a)
	p.live++
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

// touchedSince reports whether an action after l involves any path of l or b.
func (p *planner) touchedSince(l, b *action) bool {
	if len(p.acts)-l.pos > mergeWindow {
		return true
	}
	mine := append(l.paths(), b.paths()...)
	for _, x := range p.acts[l.pos+1:] {
		if x == nil {
			continue
		}
		for _, xp := range x.paths() {
			for _, mp := range mine {
				if related(xp, mp) {
					return true
				}
			}
		}
	}
	return false
}

func (p *planner) remove(a *action) {
	if p.acts[a.pos] == a {
		p.acts[a.pos] = nil
		p.live--
	}
	if p.last[a.node] == a {
		delete(p.last, a.node)
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
