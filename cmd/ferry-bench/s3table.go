package main

import (
	"fmt"
	"strings"
)

// An s3Measure is a row of the S3 table. ferry's ratio and target are
// taken of the row's baseline, which need not be in the same row, nor in
// the same table.
type s3Measure struct {
	measure
	base baseline
}

// A baseline names the cell ferry is compared with.
type baseline struct {
	name      string // how the target column calls it
	id        measureID
	contender string
}

// cell is the baseline's cell in r.
func (b baseline) cell(r results) cell { return r[b.id][b.contender] }

// s3Measures lists the S3 table's rows in order; seqSize only names the
// upload row.
func s3Measures(seqSize int64) []s3Measure {
	folder := baseline{name: "ferry on a folder", id: mUntar, contender: ferry}
	return []s3Measure{
		{measure{id: mS3Untar, label: "Untar Go source tree, until tar exits", unit: seconds, target: target{maxRatio, 1.2}}, folder},
		{measure{id: mS3UntarFlush, label: "Untar start to all in the bucket", unit: seconds, target: target{maxRatio, 1}},
			baseline{name: "rclone copy", id: mS3UntarFlush, contender: rcloneCopy}},
		{measure{id: mS3Upload, label: fmt.Sprintf("Upload one %s file, write start to in the bucket", formatSize(seqSize)),
			unit: mbPerSec, target: target{minRatio, 1}},
			baseline{name: "rclone copy", id: mS3Upload, contender: rcloneCopy}},
		{measure: measure{id: mS3UntarCheck, label: "WARNING: bucket vs tarball after untar"}},
		{measure: measure{id: mS3UploadCheck, label: "WARNING: bucket vs file after upload"}},
	}
}

// renderS3Table prints the S3 results as a markdown table: a column per S3
// contender, ferry's ratio to the row's baseline, and the target with
// ferry's verdict. A baseline from outside the table is quoted in the
// target column.
func renderS3Table(ms []s3Measure, r results) string {
	var b strings.Builder
	b.WriteString("| Measure | ferry | rclone copy | rclone mount | ferry/baseline | target |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|\n")
	for _, m := range ms {
		cells := r[m.id]
		if len(cells) == 0 {
			continue
		}
		label := m.title()
		base := m.base.cell(r)
		cols := make([]string, len(s3ContenderNames))
		for i, c := range s3ContenderNames {
			cols[i] = cells[c].String()
			isBase := m.base.id == m.id && m.base.contender == c
			if rt, ok := ratio(cells[c], base); ok && c != ferry && !isBase {
				cols[i] += " (" + formatRatio(rt) + ")"
			}
		}
		f := cells[ferry]
		ratioCell := ""
		if rt, ok := ratio(f, base); ok {
			ratioCell = formatRatio(rt)
		} else if f.isNumber() && m.base.name != "" {
			ratioCell = "n/a"
		}
		targetCell := ""
		if m.target.kind != noTarget {
			name := m.base.name
			if m.base.id != m.id {
				quoted := "n/a"
				if base.isNumber() {
					quoted = base.String() + " " + string(m.unit)
				}
				name += " (" + quoted + ")"
			}
			targetCell = m.targetCell(name, f, base)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", escapeCell(label),
			escapeCell(cols[0]), escapeCell(cols[1]), escapeCell(cols[2]), ratioCell, escapeCell(targetCell))
	}
	return b.String()
}
