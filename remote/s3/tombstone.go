package s3

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferry-fs/ferry/remote"
)

// A conditional delete (Delete, the end of a rename) puts a tombstone over
// the version it deletes, with If-Match, then deletes the tombstone: MinIO
// ignores If-Match on DELETE, and while the tombstone stands every other
// conditional write at the key fails, so nothing written meanwhile is
// deleted unseen. A tombstone holds random bytes, which give it an ETag of
// its own (an empty object's is every empty object's), and the metadata
// ferry-deleting: the ETag it deletes.
//
// A delete that stops between its two requests (a crash, a lost network, a
// device that never comes back) leaves its tombstone, which would hold
// back every other device's writes there. So a tombstone has a life,
// Config.tombstoneLife (a minute), its age taken from the server's clock,
// which set its Last-Modified (object.age):
//
//   - younger than half of it, only its own delete removes it
//     (deleteTombstone), with a DELETE sent in time to arrive well before
//     the tombstone is of age;
//   - from half of it, nobody removes it;
//   - of age, anyone may replace it, with If-Match on its ETag: a write of a
//     new file there takes its place (takeOver), and a retried delete puts
//     a fresh tombstone of its own, which it then deletes (clearTombstone).
//     Of two, one wins; the other's condition fails.
//
// So a DELETE, which removes whatever is at the key when it arrives, never
// removes a write that took a tombstone's place: it would have to travel
// for half a minute.

// maxTombstone is the most bytes a tombstone holds: rand.Text(), or
// nothing (before they held random bytes). tombstoneSize is what
// rand.Text() gives, the size listings are checked for.
const (
	maxTombstone  = 64
	tombstoneSize = 26
)

// putTombstone puts a tombstone at key over the version ifMatch, recording
// that it deletes the version deleting. It returns the tombstone's ETag,
// and a time by this device's clocks no later than the tombstone was put.
// The Remote remembers it as its own (see mine) until it deletes it: from
// before the request, by the ETag it will have (the MD5 of its random
// bytes), since a request cut short (a cancelled context, a timeout) may
// have landed all the same.
func (r *Remote) putTombstone(ctx context.Context, op, key, ifMatch, deleting string) (etag string, born time.Time, err error) {
	born = time.Now()
	body := []byte(rand.Text())
	sum := md5.Sum(body)
	own := hex.EncodeToString(sum[:])
	r.remember(own, born)
	md := map[string]string{metaTombstone: trimETag(deleting)}
	r.mu.Lock()
	if r.device != "" {
		md[metaTombstoneBy] = r.device
	}
	r.mu.Unlock()
	etag, err = r.putOwn(ctx, op, key, body, md, remote.Cond{IfMatch: ifMatch})
	if errors.Is(err, remote.ErrPrecondition) || remote.IsPermanent(err) {
		r.forget(own) // refused: never put
	}
	if err != nil {
		return "", born, err
	}
	r.remember(etag, born) // an ETag that is no MD5 (SSE-KMS)
	return etag, born, nil
}

// remember records the tombstone tomb as this Remote's, put at born or
// later, and forgets those of age: nobody deletes one of those without
// renewing it first.
func (r *Remote) remember(tomb string, born time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for t, b := range r.tombs {
		if since(b) >= r.cfg.tombstoneLife {
			delete(r.tombs, t)
		}
	}
	r.tombs[trimETag(tomb)] = born
}

func (r *Remote) forget(tomb string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.tombs, trimETag(tomb))
}

// mine reports whether this Remote put the tombstone tomb, and when.
func (r *Remote) mine(tomb string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	born, ok := r.tombs[trimETag(tomb)]
	return born, ok
}

// SetDevice names the device this Remote deletes for, in the tombstones
// it puts: one that the device put before it stopped (a crash, a kill)
// is then its own after a restart, and its retried delete removes it at
// once rather than leaving it for a tombstone's life, seen by other tools
// as a small stray file. The name must be this device's alone and the
// same across restarts; one process at a time uses it.
func (r *Remote) SetDevice(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.device = id
}

// mineHeaded is mine for the tombstone o that a HEAD found: also one this
// device put before a restart, of a known age.
func (r *Remote) mineHeaded(o object) (time.Time, bool) {
	if born, ok := r.mine(o.etag); ok {
		return born, true
	}
	r.mu.Lock()
	device := r.device
	r.mu.Unlock()
	if device == "" || o.meta[metaTombstoneBy] != device || o.date.IsZero() {
		return time.Time{}, false
	}
	return time.Now().Add(-o.age()), true
}

// deleteTombstone deletes the tombstone tomb at key, put at born or later,
// if it is still younger than half its life, with one request (the SDK's
// retries could send it late) that gives up once that half has passed. An
// older one fails with a transient error: the retry clears it
// (clearTombstone).
func (r *Remote) deleteTombstone(ctx context.Context, op, key, tomb string, born time.Time) error {
	half := born.Add(r.cfg.tombstoneLife / 2)
	if since(born) >= r.cfg.tombstoneLife/2 {
		return &opError{op: op, key: key, err: errors.New("the tombstone is too old to delete: trying again once it may be replaced")}
	}
	ctx, cancel := context.WithDeadline(ctx, half)
	defer cancel()
	if err := r.deleteKey(ctx, op, key, tomb, func(o *s3.Options) { o.RetryMaxAttempts = 1 }); err != nil {
		return err
	}
	r.forget(tomb)
	return nil
}

// clearTombstone removes the tombstone at key left by a delete or a move
// that stopped between its tombstone and the tombstone's delete, and is
// retried. Only the Remote that put a young tombstone deletes it: a DELETE
// takes whatever is at the key, and another one could follow. A young
// tombstone of another delete (or of this device's own before a restart) is
// a delete under way: with want, the version the retry deletes, that
// delete is done here (the version is gone from the key); without, it is
// waited for (a transient error). A tombstone of age is first replaced by
// a fresh one of this Remote's; if a write has taken its place meanwhile,
// that write stays. Nothing (or a file) at key: the delete is done.
func (r *Remote) clearTombstone(ctx context.Context, op, key, want string) error {
	o, err := r.headAny(ctx, op, key)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return r.clearHeaded(ctx, op, key, o, want)
}

// clearHeaded is clearTombstone of the object o that a HEAD of key found.
func (r *Remote) clearHeaded(ctx context.Context, op, key string, o object, want string) error {
	if o.meta[metaTombstone] == "" {
		return nil
	}
	born, mine := r.mineHeaded(o)
	switch {
	case o.age() >= r.cfg.tombstoneLife:
		etag, born, err := r.putTombstone(ctx, op, key, o.etag, o.meta[metaTombstone])
		if errors.Is(err, remote.ErrPrecondition) {
			return nil // taken over, or cleared by another retry
		}
		if err != nil {
			return err
		}
		return r.deleteTombstone(ctx, op, key, etag, born)
	case mine:
		return r.deleteTombstone(ctx, op, key, o.etag, born)
	case want == "":
		return &opError{op: op, key: key, err: errors.New("a delete is under way")}
	}
	return nil
}

// takeOver returns the condition under which a write of a new file
// (If-None-Match) that the server refused at key may be sent again:
// If-Match on the ETag of a tombstone of age there, left by a delete that
// stopped. That replaces the tombstone and nothing else, and its delete,
// should it come back, sends no DELETE for a tombstone that old. ok false:
// the refusal stands.
func (r *Remote) takeOver(ctx context.Context, op, key string, cond remote.Cond, err error) (over remote.Cond, ok bool) {
	if !cond.IfNoneMatch || !errors.Is(err, remote.ErrPrecondition) {
		return cond, false
	}
	o, herr := r.headAny(ctx, op, key)
	if herr != nil || o.meta[metaTombstone] == "" || o.age() < r.cfg.tombstoneLife {
		return cond, false
	}
	r.log.Warn("s3: writing over the tombstone of a delete that stopped", "bucket", r.bucket, "key", key, "age", o.age().Round(time.Second))
	return remote.Cond{IfMatch: o.etag}, true
}

// since is how long ago t was by this device's wall clock or its monotonic
// clock, whichever says longer: the monotonic clock stops while the
// computer sleeps, and the wall clock can be set back.
func since(t time.Time) time.Duration {
	return max(time.Since(t), time.Now().Round(0).Sub(t.Round(0)))
}

// maxCleared bounds how many tombstones one Rmdir clears from its directory.
const maxCleared = 100

// clearStale clears the listed object o, as clearTombstone without a
// version, if it is a tombstone, and reports whether it was one (or went
// meanwhile): a directory's rename or rmdir neither moves nor counts it.
// Another delete's young one is waited for (a transient error).
func (r *Remote) clearStale(ctx context.Context, op string, o listed) (bool, error) {
	if o.size > maxTombstone || strings.HasSuffix(o.key, "/") {
		return false, nil
	}
	h, err := r.headAny(ctx, op, o.key)
	switch {
	case errors.Is(err, remote.ErrNotFound):
		return true, nil // gone meanwhile
	case err != nil:
		return false, err
	case h.meta[metaTombstone] == "":
		return false, nil
	}
	return true, r.clearHeaded(ctx, op, o.key, h, "")
}
