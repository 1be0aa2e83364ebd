package main

import (
	"fmt"
	"strings"
)

// syncContenderNames are the sync table's columns: two mounts of one
// bucket. rclone copy has no mount to see a change through.
var syncContenderNames = []string{ferry, rcloneMount}

// syncMeasures lists the sync table's rows in order; objects is how many
// objects the bucket of rows 2 to 4 holds.
func syncMeasures(objects int) []measure {
	return []measure{
		{id: mSyncPickupMedian, label: "1 Pickup latency, a new file on A seen on B, median", unit: seconds, target: target{maxValue, 1.5}},
		{id: mSyncPickupP95, label: "1 Pickup latency, p95", unit: seconds},
		{id: mSyncPollRequests, label: fmt.Sprintf("2 Idle, %d objects in the bucket: S3 requests per poll (rclone: per second)", objects),
			target: target{maxValue, 1}},
		{id: mSyncPollCPU, label: "2 Idle: CPU of the mount per poll (rclone: per second)", unit: millis},
		{id: mSyncFirstLs, label: fmt.Sprintf("3 First mount of the %d objects: `ls` of the root answers", objects), unit: seconds, target: target{belowValue, 2}},
		{id: mSyncFirstTree, label: "3 First mount: the whole tree listed", unit: seconds},
		{id: mSyncFirstRSS, label: "3 First mount: peak RSS", unit: mbytes, target: target{maxValue, 200}},
		{id: mSyncRemountLs, label: "4 Remount: `ls` of the root answers", unit: seconds, target: target{belowValue, 1}},
		{id: mSyncRemountLists, label: "4 Remount: LIST requests (ListObjectsV2) until ready", target: target{maxValue, 0}},
		{id: mSyncRemountTreeLists, label: "4 Remount: of those, listings of the tree (not of .ferry/)"},
		{id: mSyncCheck, label: "WARNING"},
	}
}

// renderSyncTable prints the two-way sync results as a markdown table: a
// column per mount and the target with ferry's verdict. Every target here
// is an absolute one.
func renderSyncTable(ms []measure, r results) string {
	var b strings.Builder
	b.WriteString("| Measure | ferry | rclone mount | target |\n")
	b.WriteString("|---|---:|---:|---|\n")
	for _, m := range ms {
		cells := r[m.id]
		if len(cells) == 0 {
			continue
		}
		f := cells[ferry]
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", escapeCell(m.title()),
			escapeCell(f.String()), escapeCell(cells[rcloneMount].String()), escapeCell(m.targetCell("", f, cell{})))
	}
	return b.String()
}
