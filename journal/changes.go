package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-fs/ferry/remote"
)

// The change log: after each batch of uploads, the uploader writes one
// small object under the remote's ".ferry/log/" listing what it changed.
// Other devices poll that prefix with one listing request from their
// cursor, instead of listing the whole remote.

// Change is one entry of the change log.
type Change struct {
	Op      string    `json:"op"` // put, delete, mkdir, rmdir, move
	Path    string    `json:"path"`
	To      string    `json:"to,omitempty"` // move target
	Dir     bool      `json:"dir,omitempty"`
	Version string    `json:"etag,omitempty"` // the version now at Path (To for a move)
	Size    int64     `json:"size,omitempty"`
	MTime   time.Time `json:"mtime,omitzero"`
	Mode    uint32    `json:"mode,omitempty"`
	Hash    string    `json:"hash,omitempty"`
	Link    string    `json:"link,omitempty"`
	// Was: for a move of a file, the version it had at Path, when known.
	// A device that holds another version there keeps it in place.
	Was string `json:"was,omitempty"`
	// At is when the change was logged; set by the reader, from the name
	// of the log object.
	At time.Time `json:"at,omitzero"`
}

const (
	changePut    = "put"
	changeDelete = "delete"
	changeMkdir  = "mkdir"
	changeRmdir  = "rmdir"
	changeMove   = "move"
)

// logObject is the content of one change-log object.
type logObject struct {
	Device  string    `json:"device"`
	Time    time.Time `json:"time"`
	Changes []Change  `json:"changes"`
}

const logPrefix = "log/"

// logName names a log object so that names sort by time, then device, then
// sequence number.
func logName(t time.Time, device string, seq uint64) string {
	return fmt.Sprintf("%s%020d-%s-%010d.json", logPrefix, t.UnixNano(), device, seq)
}

// parseLogName returns the time and device of a log object name.
func parseLogName(name string) (time.Time, string, bool) {
	rest, ok := strings.CutPrefix(name, logPrefix)
	if !ok || len(rest) < 21 || rest[20] != '-' {
		return time.Time{}, "", false
	}
	ns, err := strconv.ParseInt(rest[:20], 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	dev := strings.TrimSuffix(rest[21:], ".json")
	if i := strings.LastIndexByte(dev, '-'); i >= 0 {
		dev = dev[:i]
	}
	return time.Unix(0, ns), dev, true
}

// logAfter is the listing start for log objects newer than t.
func logAfter(t time.Time) string {
	return fmt.Sprintf("%s%020d", logPrefix, max(t.UnixNano(), 0))
}

// entryOf is the remote entry a put or mkdir change describes.
func (c Change) entry(path string) remote.Entry {
	e := remote.Entry{Path: path, Dir: c.Dir, Size: c.Size, ModTime: c.MTime, Version: c.Version,
		Hash: c.Hash, Link: c.Link}
	e.Mode = os.FileMode(c.Mode) & os.ModePerm
	return e
}

// addChange queues c for the next change-log object.
func (u *Uploader) addChange(c Change) {
	if u.area == nil {
		return
	}
	u.mu.Lock()
	u.outbox = append(u.outbox, c)
	u.mu.Unlock()
	select {
	case u.logWake <- struct{}{}:
	default:
	}
}

// logInterval batches changes into one log object at most this often;
// logBusyInterval while uploads are under way. A bulk upload (an untar of
// thousands of files) then writes a log object a second, not five: every
// one costs a PUT here and a GET on every other device. A flush writes
// what is queued at once, whichever applies.
const (
	logInterval     = 200 * time.Millisecond
	logBusyInterval = time.Second
)

// logWait is how long writeLog gathers changes before it writes them.
func (u *Uploader) logWait() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.running) > 0 {
		return logBusyInterval
	}
	return logInterval
}

// writeLog writes queued changes to the change log until the uploader
// closes. A failed write keeps the changes for the next try.
func (u *Uploader) writeLog() {
	defer u.wg.Done()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-u.logWake:
		}
		select {
		case <-u.ctx.Done():
			return
		case <-time.After(u.logWait()):
		}
		for u.flushLog(u.ctx) != nil {
			select {
			case <-u.ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// flushLog writes what is queued as one log object.
func (u *Uploader) flushLog(ctx context.Context) error {
	u.logMu.Lock()
	defer u.logMu.Unlock()
	u.mu.Lock()
	changes := u.outbox
	u.outbox = nil
	u.logSeq++
	seq := u.logSeq
	u.mu.Unlock()
	if len(changes) == 0 {
		return nil
	}
	now := time.Now()
	data, _ := json.Marshal(logObject{Device: u.cfg.Device, Time: now, Changes: changes})
	err := u.area.PutArea(ctx, logName(now, u.cfg.DeviceID, seq), data)
	if err != nil {
		u.log.Warn("write change log, will retry", "err", err)
		u.mu.Lock()
		u.outbox = append(changes, u.outbox...)
		u.mu.Unlock()
		return err
	}
	return nil
}
