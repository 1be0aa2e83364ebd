package journal

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// opsFrom builds ops from lines "node kind path [path2]"; dir ops use kinds mkdir/rmdir
// or a "d" prefix on the node ("d7").
func opsFrom(t *testing.T, lines ...string) []*Op {
	t.Helper()
	var ops []*Op
	for i, l := range lines {
		f := strings.Fields(l)
		var node uint64
		dir := strings.HasPrefix(f[0], "d")
		if _, err := fmt.Sscan(strings.TrimPrefix(f[0], "d"), &node); err != nil {
			t.Fatalf("bad line %q", l)
		}
		op := &Op{Seq: uint64(i + 1), Node: node, Kind: Kind(f[1]), Path: f[2], Dir: dir || f[1] == "mkdir" || f[1] == "rmdir",
			Time: time.Unix(int64(i), 0)}
		if len(f) > 3 {
			op.Path2 = f[3]
		}
		ops = append(ops, op)
	}
	return ops
}

func planString(p *planner) []string {
	var out []string
	for _, a := range p.acts {
		if a == nil {
			continue
		}
		s := fmt.Sprintf("%s %s", a.kind, a.path)
		if a.kind == actMove {
			s += " " + a.to
		}
		seqs := ""
		for _, op := range a.ops {
			seqs += fmt.Sprint(op.Seq)
		}
		out = append(out, s+" ["+seqs+"]")
	}
	return out
}

func TestPlannerCoalescing(t *testing.T) {
	tests := []struct {
		name    string
		ops     []string
		want    []string
		dropped int
	}{
		{"create+writes+rename is one upload at the final path",
			[]string{"1 create a", "1 write a", "1 write a", "1 rename a b"},
			[]string{"put b [1234]"}, 0},
		{"create+unlink reaches nothing",
			[]string{"1 create a", "1 write a", "1 unlink a"},
			nil, 3},
		{"chain of renames becomes one",
			[]string{"1 rename a b", "1 rename b c", "1 rename c d"},
			[]string{"move a d [123]"}, 0},
		{"rename back and forth is nothing",
			[]string{"1 rename a b", "1 rename b a"},
			nil, 2},
		{"setattrs merge into the upload",
			[]string{"1 create a", "1 write a", "1 setattr a", "1 setattr a"},
			[]string{"put a [1234]"}, 0},
		{"write then unlink of an existing file is a delete",
			[]string{"1 write a", "1 unlink a"},
			[]string{"delete a [12]"}, 0},
		{"rename then unlink deletes the source",
			[]string{"1 rename a b", "1 unlink b"},
			[]string{"delete a [12]"}, 0},
		{"mkdir+rmdir of a new dir reaches nothing",
			[]string{"d2 mkdir d", "d2 rmdir d"},
			nil, 2},
		{"mkdir then chmod is one mkdir",
			[]string{"d2 mkdir d", "d2 setattr d"},
			[]string{"mkdir d [12]"}, 0},
		{"new dir with files created then removed reaches nothing",
			[]string{"d2 mkdir d", "3 create d/f", "3 write d/f", "3 unlink d/f", "d2 rmdir d"},
			nil, 5},
		{"editor save: temp file renamed over the original is one upload",
			[]string{"1 write f", "2 create f.tmp", "2 write f.tmp", "2 rename f.tmp f"},
			[]string{"put f [1]", "put f [234]"}, 0},
		{"an op in between on the same path blocks the merge",
			[]string{"1 create a", "2 unlink b", "1 rename a b"},
			[]string{"put a [1]", "delete b [2]", "move a b [3]"}, 0},
		{"a new file at a vacated name keeps the rename first",
			[]string{"1 rename x y", "2 create x", "1 write y"},
			[]string{"move x y [1]", "put x [2]", "put y [3]"}, 0},
		{"dir rename is not merged into its mkdir when children came in between",
			[]string{"d2 mkdir d", "3 create d/f", "d2 rename d e"},
			[]string{"mkdir d [1]", "put d/f [2]", "move d e [3]"}, 0},
		{"a dir's setattr after its contents (tar) joins its mkdir",
			[]string{"d2 mkdir d", "3 create d/f", "d4 mkdir d/s", "d2 setattr d", "d4 setattr d/s", "d2 setattr d"},
			[]string{"mkdir d [146]", "put d/f [2]", "mkdir d/s [35]"}, 0},
		{"a dir's setattr stays apart when a parent moved in between",
			[]string{"d2 mkdir a/d", "d1 rename a b", "d2 setattr b/d"},
			[]string{"mkdir a/d [1]", "move a b [2]", "setmeta b/d [3]"}, 0},
		{"a dir's setattr stays apart when its parent was replaced in between",
			[]string{"d2 setattr a/d", "d1 rmdir a", "d3 mkdir a", "d2 setattr a/d"},
			[]string{"setmeta a/d [1]", "rmdir a [2]", "mkdir a [3]", "setmeta a/d [4]"}, 0},
		{"unrelated ops in between do not block",
			[]string{"1 create a", "2 create b", "1 write a", "2 write b"},
			[]string{"put a [13]", "put b [24]"}, 0},
		{"exchange through a temp name stays three renames",
			[]string{"1 rename a .x", "2 rename b a", "1 rename .x b"},
			[]string{"move a .x [1]", "move b a [2]", "move .x b [3]"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlanner()
			dropped := 0
			for _, op := range opsFrom(t, tc.ops...) {
				dropped += len(p.add(op))
			}
			got := planString(p)
			if strings.Join(got, "; ") != strings.Join(tc.want, "; ") {
				t.Errorf("plan:\n got %q\nwant %q", got, tc.want)
			}
			if dropped != tc.dropped {
				t.Errorf("dropped %d ops, want %d", dropped, tc.dropped)
			}
		})
	}
}

func TestPlannerRunningActionIsNotMerged(t *testing.T) {
	p := newPlanner()
	ops := opsFrom(t, "1 create a", "1 write a")
	p.add(ops[0])
	p.start(p.acts[0])
	p.add(ops[1])
	if got := planString(p); len(got) != 2 {
		t.Fatalf("an op arriving during an upload must start a new action, got %q", got)
	}
}

func TestRelated(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a", "a", true}, {"a", "a/b", true}, {"a/b", "a", true}, {"", "x/y", true},
		{"a", "ab", false}, {"a/b", "a/c", false}, {"ab/c", "a", false},
	}
	for _, tc := range tests {
		if got := related(tc.a, tc.b); got != tc.want {
			t.Errorf("related(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPathSet(t *testing.T) {
	s := newPathSet()
	s.add("a/b")
	for p, want := range map[string]bool{"a": true, "a/b": true, "a/b/c": true, "": true, "a/c": false, "b": false, "a/bc": false} {
		if got := s.relates(p); got != want {
			t.Errorf("relates(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestPlannerRebase: a remote move of directory d to r moves the waiting
// actions at or below d, ops included, and leaves the others; later ops
// at the new paths still coalesce with the moved actions.
func TestPlannerRebase(t *testing.T) {
	p := newPlanner()
	for _, op := range opsFrom(t, "d5 setattr d", "1 write d/a", "2 rename d/x e/y", "3 rename e/z d/sub/z", "4 unlink other/w") {
		p.add(op)
	}
	var changed []*Op
	for _, a := range p.acts {
		if a != nil {
			changed = append(changed, p.rebase(a, "d", "r")...)
		}
	}
	want := []string{"setmeta r [1]", "put r/a [2]", "move r/x e/y [3]", "move e/z r/sub/z [4]", "delete other/w [5]"}
	if got := planString(p); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the rebase: %q, want %q", got, want)
	}
	if len(changed) != 4 || changed[1].Path != "r/a" || changed[3].Path2 != "r/sub/z" {
		t.Errorf("changed ops: %+v", changed)
	}
	if p.exactCnt["d/a"] != 0 || p.exactCnt["r/a"] != 1 || p.underCnt["d"] != 0 || p.underCnt["r"] != 4 {
		t.Errorf("index after the rebase: exact d/a %d r/a %d, under d %d r %d",
			p.exactCnt["d/a"], p.exactCnt["r/a"], p.underCnt["d"], p.underCnt["r"])
	}
	p.add(&Op{Seq: 6, Node: 1, Kind: Write, Path: "r/a", Time: time.Unix(6, 0)})
	if got := planString(p); got[1] != "put r/a [26]" {
		t.Errorf("a write at the new path did not join the moved put: %q", got)
	}
}
