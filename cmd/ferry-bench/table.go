package main

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The contenders, in the order of the table's columns.
const (
	plain  = "plain"
	ferry  = "ferry"
	rclone = "rclone"
)

var contenderNames = []string{plain, ferry, rclone}

// measureID names one row of the table.
type measureID int

const (
	mUntar measureID = iota
	mUntarFlush
	mCreate
	mStat
	mRemove
	mSeqWrite
	mSeqRead
	mPeakRSS
	mUntarDiff // a warning row, shown only when some mount differs from its remote

	// The S3 table's rows.
	mS3Untar
	mS3UntarFlush
	mS3Upload
	mS3UntarCheck // warning rows, shown only when a bucket misses something
	mS3UploadCheck

	// The two-way sync table's rows, numbered in their labels as in the
	// two-way sync issue.
	mSyncPickupMedian
	mSyncPickupP95
	mSyncPollRequests
	mSyncPollCPU
	mSyncFirstLs
	mSyncFirstTree
	mSyncFirstRSS
	mSyncRemountLs
	mSyncRemountLists
	mSyncRemountTreeLists
	mSyncCheck // a warning row, shown only when something did not add up
)

// unit is how a row's numbers read.
type unit string

const (
	seconds  unit = "s"
	millis   unit = "ms"
	mbPerSec unit = "MB/s"
	mbytes   unit = "MB"
)

// A measure is one row: what it measures and what ferry should reach. A
// row appears in the table only when some contender has a cell in it.
type measure struct {
	id     measureID
	label  string
	unit   unit
	target target
}

// measures lists the table's rows in order; seqSize only names the
// sequential rows.
func measures(seqSize int64) []measure {
	seq := formatSize(seqSize)
	return []measure{
		{id: mUntar, label: "Untar Go source tree", unit: seconds, target: target{maxRatio, 3}},
		{id: mUntarFlush, label: "Untar start to flush done", unit: seconds, target: target{maxRatio, 4}},
		{id: mCreate, label: fmt.Sprintf("Create %d empty files", fileCount), unit: millis, target: target{maxRatio, 4}},
		{id: mStat, label: fmt.Sprintf("Stat %d files", fileCount), unit: millis, target: target{maxRatio, 4}},
		{id: mRemove, label: fmt.Sprintf("Remove %d files", fileCount), unit: millis, target: target{maxRatio, 4}},
		{id: mSeqWrite, label: fmt.Sprintf("Sequential write %s + fsync", seq), unit: mbPerSec, target: target{minRatio, 0.7}},
		{id: mSeqRead, label: fmt.Sprintf("Sequential read %s, cold cache", seq), unit: mbPerSec, target: target{minRatio, 0.7}},
		{id: mPeakRSS, label: "Peak RSS of the mount during untar", unit: mbytes, target: target{maxValue, 150}},
		{id: mUntarDiff, label: "WARNING: diff -r mount vs remote after flush"},
	}
}

// cellKind tells what a cell holds.
type cellKind int

const (
	notRun cellKind = iota // the zero cell: the contender or workload was not selected
	number
	text // shown as is: "n/a", a warning
	failure
)

// A cell is one contender's result for one measure.
type cell struct {
	kind  cellKind
	v     float64
	s     string
	over  bool // a number only: the measurement gave up at v, the value is more
	whole bool // a number only: a count, shown without decimals
}

func num(v float64) cell      { return cell{kind: number, v: v} }
func atLeast(v float64) cell  { return cell{kind: number, v: v, over: true} }
func count(n int) cell        { return cell{kind: number, v: float64(n), whole: true} }
func note(s string) cell      { return cell{kind: text, s: s} }
func failed(err error) cell   { return cell{kind: failure, s: shortError(err)} }
func failedf(s string) cell   { return failed(errors.New(s)) }
func (c cell) isNumber() bool { return c.kind == number }

func (c cell) String() string {
	switch c.kind {
	case number:
		s := formatNum(c.v)
		if c.whole {
			s = strconv.FormatFloat(c.v, 'f', -1, 64)
		}
		if c.over {
			return "> " + s
		}
		return s
	case text:
		return c.s
	case failure:
		return "error: " + c.s
	default:
		return "not run"
	}
}

// shortError keeps a table cell to one short line: the last line of a
// multi-line error (usually the cause), at most 70 characters.
func shortError(err error) string {
	s := strings.TrimSpace(err.Error())
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[i+1:])
	}
	if r := []rune(s); len(r) > 70 {
		s = string(r[:67]) + "..."
	}
	return s
}

// formatNum prints about three significant digits, never an exponent.
func formatNum(v float64) string {
	switch a := abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// ratio is c divided by base, when both are measurements and base is not 0.
// A measurement that gave up has no ratio.
func ratio(c, base cell) (float64, bool) {
	if !c.isNumber() || !base.isNumber() || base.v == 0 || c.over || base.over {
		return 0, false
	}
	return c.v / base.v, true
}

func formatRatio(r float64) string { return formatNum(r) + "×" }

// targetKind says how ferry's cell is compared against the limit.
type targetKind int

const (
	noTarget   targetKind = iota
	maxRatio              // ferry ≤ limit × plain: times
	minRatio              // ferry ≥ limit × plain: throughputs
	maxValue              // ferry ≤ limit, in the row's unit
	belowValue            // ferry < limit, in the row's unit
)

type target struct {
	kind  targetKind
	limit float64
}

func (t target) String() string { return t.against(plain) }

// isAbsolute reports whether the target is a limit in the row's unit
// rather than a ratio to a baseline.
func (t target) isAbsolute() bool { return t.kind == maxValue || t.kind == belowValue }

// against describes the target with base as what a ratio is taken of.
func (t target) against(base string) string {
	switch t.kind {
	case maxRatio:
		return fmt.Sprintf("≤ %s× %s", strconv.FormatFloat(t.limit, 'f', -1, 64), base)
	case minRatio:
		return fmt.Sprintf("≥ %s%% of %s", strconv.FormatFloat(t.limit*100, 'f', -1, 64), base)
	case maxValue:
		return fmt.Sprintf("≤ %s", strconv.FormatFloat(t.limit, 'f', -1, 64))
	case belowValue:
		return fmt.Sprintf("< %s", strconv.FormatFloat(t.limit, 'f', -1, 64))
	default:
		return ""
	}
}

type verdict int

const (
	unknown verdict = iota // ferry (or plain, for a ratio) has no measurement
	pass
	fail
)

func (v verdict) String() string {
	switch v {
	case pass:
		return "pass"
	case fail:
		return "FAIL"
	default:
		return ""
	}
}

// judge compares ferry's cell against the target; plain is the baseline
// for ratio targets.
func (t target) judge(f, p cell) verdict {
	var ok bool
	switch t.kind {
	case maxRatio, minRatio:
		r, known := ratio(f, p)
		if !known {
			return unknown
		}
		ok = r <= t.limit
		if t.kind == minRatio {
			ok = r >= t.limit
		}
	case maxValue, belowValue:
		switch {
		case !f.isNumber():
			return unknown
		case f.over:
			// Gave up at f.v: more than f.v fails a limit f.v reaches.
			if f.v < t.limit {
				return unknown
			}
			ok = false
		case t.kind == maxValue:
			ok = f.v <= t.limit
		default:
			ok = f.v < t.limit
		}
	default:
		return unknown
	}
	if ok {
		return pass
	}
	return fail
}

// results holds every cell of one run: cells[measure][contender].
type results map[measureID]map[string]cell

func (r results) set(id measureID, contender string, c cell) {
	if r[id] == nil {
		r[id] = map[string]cell{}
	}
	r[id][contender] = c
}

// combine reduces one cell per repetition to the cell shown: the median
// of the measurements when every repetition measured, else the first
// failure, else the first note. A median that takes in a measurement that
// gave up is itself a lower bound.
func combine(cells []cell) cell {
	var nums []cell
	var firstNote cell
	for _, c := range cells {
		switch c.kind {
		case failure:
			return c
		case number:
			nums = append(nums, c)
		case text:
			if firstNote.kind == notRun {
				firstNote = c
			}
		}
	}
	if firstNote.kind != notRun || len(nums) == 0 {
		return firstNote
	}
	slices.SortStableFunc(nums, func(a, b cell) int { return cmp.Compare(a.v, b.v) })
	mid := len(nums) / 2
	if len(nums)%2 == 0 {
		a, b := nums[mid-1], nums[mid]
		v := (a.v + b.v) / 2
		return cell{kind: number, v: v, over: a.over || b.over, whole: a.whole && b.whole && v == math.Trunc(v)}
	}
	return nums[mid]
}

// title is the row's label with its unit.
func (m measure) title() string {
	if m.unit == "" {
		return m.label
	}
	return m.label + " (" + string(m.unit) + ")"
}

// targetCell is the target column: the goal, with base as what a ratio
// is taken of and the row's unit after an absolute limit, then ferry's
// verdict once it has a number.
func (m measure) targetCell(base string, f, baseCell cell) string {
	s := m.target.against(base)
	if s != "" && m.unit != "" && m.target.isAbsolute() {
		s += " " + string(m.unit)
	}
	if v := m.target.judge(f, baseCell); v != unknown {
		s += ": " + v.String()
	}
	return s
}

// renderTable prints the results as a markdown table: one row per measure,
// a column per contender, ferry's ratio to plain, and the target with
// ferry's verdict.
func renderTable(ms []measure, r results) string {
	var b strings.Builder
	b.WriteString("| Measure | plain | ferry | rclone | ferry/plain | target |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|\n")
	for _, m := range ms {
		// A row nobody ran (a workload left out with -workloads) is noise,
		// and an optional row is there only to warn.
		cells := r[m.id]
		if len(cells) == 0 {
			continue
		}
		label := m.title()
		p, f, rc := cells[plain], cells[ferry], cells[rclone]

		rcloneCell := rc.String()
		if rt, ok := ratio(rc, p); ok && !m.target.isAbsolute() {
			rcloneCell += " (" + formatRatio(rt) + ")"
		}
		ratioCell := ""
		if ft, ok := ratio(f, p); ok && !m.target.isAbsolute() {
			ratioCell = formatRatio(ft)
		}
		targetCell := m.targetCell(plain, f, p)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			escapeCell(label), escapeCell(p.String()), escapeCell(f.String()),
			escapeCell(rcloneCell), ratioCell, escapeCell(targetCell))
	}
	return b.String()
}

// escapeCell keeps a cell from breaking the table.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
