package main

// The harness of the end-to-end tests on S3: a MinIO per test, mounts of
// s3://BUCKET whose ferry gets the server's credentials in its environment,
// and a reading of the bucket that interprets the raw objects by rclone's
// conventions (one object per file, "dir/" markers, NAME.rclonelink for a
// symlink, x-amz-meta-mtime and -mode), independently of remote/s3, so that
// a bug there cannot hide itself. The tests are in e2e_s3_*_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// s3Fixture is one MinIO and one bucket on it.
type s3Fixture struct {
	srv    *s3test.Server
	bucket string
}

// newS3 starts a MinIO of the test's own and makes a bucket. Like
// startMount, it needs FUSE: without FUSE or MinIO the test is skipped,
// and fails in CI.
func newS3(t testing.TB) *s3Fixture {
	t.Helper()
	requireFUSE(t)
	srv := s3test.Start(t)
	return &s3Fixture{srv: srv, bucket: srv.NewBucket(t)}
}

// url is the bucket as ferry names it.
func (f *s3Fixture) url() string { return "s3://" + f.bucket }

// dirs returns a mountpoint and a cache dir for a mount of the bucket;
// Remote is the s3:// URL.
func (f *s3Fixture) dirs(t testing.TB) mountDirs {
	t.Helper()
	base := t.TempDir()
	d := mountDirs{Remote: f.url(), MP: filepath.Join(base, "mnt"), Cache: filepath.Join(base, "cache")}
	if err := os.Mkdir(d.MP, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// env is the environment of a ferry child: this process's, with the AWS
// settings replaced by the server's credentials. AWS_CA_BUNDLE stays:
// ferry must work with it set.
func (f *s3Fixture) env() []string {
	return s3Env(f.srv.AccessKey, f.srv.SecretKey)
}

func s3Env(accessKey, secretKey string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_ACCESS_KEY_ID="+accessKey,
		"AWS_SECRET_ACCESS_KEY="+secretKey,
		"AWS_REGION=us-east-1",
		// No shared config from the host, no instance metadata lookups.
		"AWS_CONFIG_FILE=/nonexistent/ferry-e2e/config",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/ferry-e2e/credentials",
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

// mount starts `ferry mount` of the bucket on d with --s3-endpoint and
// extra flags, as startMount does for a folder.
func (f *s3Fixture) mount(t testing.TB, d mountDirs, extra ...string) *ferryMount {
	t.Helper()
	return startMountEnv(t, d, f.env(), append([]string{"--s3-endpoint", f.srv.Endpoint}, extra...)...)
}

// expectErrorLog declares that the mount m logs an error line containing
// want, on purpose (a conflict is reported at level ERROR). It fails the
// test if no such line was logged, and keeps m's cleanup from counting
// those lines as internal errors; any other level=ERROR line still fails.
// Call it after the mount started: cleanups run in reverse order.
func expectErrorLog(t testing.TB, m *ferryMount, want string) {
	t.Helper()
	t.Cleanup(func() {
		m.stderr.mu.Lock()
		defer m.stderr.mu.Unlock()
		lines := strings.SplitAfter(m.stderr.b.String(), "\n")
		found := false
		for i, l := range lines {
			if strings.Contains(l, "level=ERROR") && strings.Contains(l, want) {
				lines[i] = strings.Replace(l, "level=ERROR", "level=EXPECTED-ERROR", 1)
				found = true
			}
		}
		if !found {
			t.Errorf("ferry mount %s never logged an error about %q", m.MP, want)
		}
		m.stderr.b.Reset()
		m.stderr.b.WriteString(strings.Join(lines, ""))
	})
}

// ferryEnv is ferry() with the child's environment given.
func ferryEnv(t testing.TB, timeout time.Duration, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ferryBin, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err, code: -1}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %v: %w", timeout, err)
		r.code = -1
	}
	return r
}

// ferryStatus runs `ferry status --json` on mp, which must answer within 20s.
func ferryStatus(t testing.TB, mp string) statusReply {
	t.Helper()
	r := mustFerry(t, 20*time.Second, "status", mp, "--json")
	var st statusReply
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("ferry status --json: %v\n%s", err, r)
	}
	return st
}

// ctxFor is a context that ends after d or with the test.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// getObject reads a whole object with the plain S3 API.
func (f *s3Fixture) getObject(ctx context.Context, key string) ([]byte, *s3.GetObjectOutput, error) {
	out, err := f.srv.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: &f.bucket, Key: &key})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

// keys lists every key of the bucket below prefix.
func (f *s3Fixture) keys(t testing.TB, prefix string) []string {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	var keys []string
	p := s3.NewListObjectsV2Paginator(f.srv.Client(), &s3.ListObjectsV2Input{Bucket: &f.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket %s: %v", f.bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}

// multipartUploads lists the unfinished multipart uploads of the bucket as
// "key (upload id)".
func (f *s3Fixture) multipartUploads(t testing.TB) []string {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	var out []string
	in := &s3.ListMultipartUploadsInput{Bucket: &f.bucket}
	for {
		page, err := f.srv.Client().ListMultipartUploads(ctx, in)
		if err != nil {
			t.Fatalf("list multipart uploads of %s: %v", f.bucket, err)
		}
		for _, u := range page.Uploads {
			out = append(out, fmt.Sprintf("%s (upload %s)", deref(u.Key), deref(u.UploadId)))
		}
		if page.IsTruncated == nil || !*page.IsTruncated {
			return out
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// ferryReserved is the top-level name under which ferry keeps its own
// objects in a bucket (the trash of conditional deletes).
const ferryReserved = ".ferry/"

// bucketTree describes the bucket's objects below prefix the way readTree
// describes a folder. A directory without a marker object has no mode:
// its Perm is 0. Directories are implied by the keys below them.
func (f *s3Fixture) bucketTree(t testing.TB, prefix string) map[string]treeEntry {
	t.Helper()
	keys := f.keys(t, prefix)
	tree := map[string]treeEntry{}
	var mu sync.Mutex // guards tree and errs
	var errs []string
	addDirs := func(rel string) { // the parents of rel
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			if _, ok := tree[d]; !ok {
				tree[d] = treeEntry{Type: "dir"}
			}
		}
	}
	ctx := ctxFor(t, 5*time.Minute)
	work := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range work {
				e, rel, err := f.describeObject(ctx, key, strings.TrimPrefix(key, prefix))
				mu.Lock()
				if err != nil {
					errs = append(errs, err.Error())
				} else if old, dup := tree[rel]; dup && old.Type != "dir" {
					errs = append(errs, fmt.Sprintf("%s: two objects claim it (%v and %v)", rel, old, e))
				} else if !dup || e.Type == "dir" {
					tree[rel] = e
				}
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		if strings.HasPrefix(strings.TrimPrefix(k, prefix), ferryReserved) {
			continue
		}
		work <- k
	}
	close(work)
	wg.Wait()
	for rel := range tree {
		addDirs(rel)
	}
	for rel, e := range tree {
		if e.Type != "dir" && hasChildren(tree, rel) {
			errs = append(errs, fmt.Sprintf("%s: a %s, and keys below it", rel, e.Type))
		}
	}
	for _, e := range errs {
		t.Errorf("bucket %s: %s", f.bucket, e)
	}
	return tree
}

func hasChildren(tree map[string]treeEntry, dir string) bool {
	for k := range tree {
		if strings.HasPrefix(k, dir+"/") {
			return true
		}
	}
	return false
}

// describeObject reads the object key (at rel below the root) by rclone's
// conventions.
func (f *s3Fixture) describeObject(ctx context.Context, key, rel string) (treeEntry, string, error) {
	b, out, err := f.getObject(ctx, key)
	if err != nil {
		return treeEntry{}, "", fmt.Errorf("get %s: %v", key, err)
	}
	meta := out.Metadata
	e := treeEntry{Perm: os.FileMode(parseOctal(meta["mode"]) & 0o777)}
	e.Mtime = deref(out.LastModified).Unix()
	if s, ok := meta["mtime"]; ok {
		whole, _, _ := strings.Cut(s, ".")
		sec, err := strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return e, "", fmt.Errorf("%s: x-amz-meta-mtime %q: %v", key, s, err)
		}
		e.Mtime = sec
	}
	switch {
	case strings.HasSuffix(rel, "/"):
		rel = strings.TrimSuffix(rel, "/")
		e.Type = "dir"
		if len(b) != 0 {
			return e, "", fmt.Errorf("directory marker %s holds %d bytes", key, len(b))
		}
	case strings.HasSuffix(rel, ".rclonelink"):
		rel = strings.TrimSuffix(rel, ".rclonelink")
		e.Type, e.Link, e.Perm = "symlink", string(b), 0
	default:
		e.Type, e.Size, e.Hash = "file", int64(len(b)), hashBytes(b)
	}
	return e, rel, nil
}

func parseOctal(s string) uint64 {
	v, _ := strconv.ParseUint(s, 8, 32)
	return v
}

// compareBucket fails the test for every difference between the tree at
// mp and the bucket's objects below prefix, and returns the paths that
// differ. Directories without a marker carry no mode to compare.
func (f *s3Fixture) compareBucket(t testing.TB, mp, prefix string, o compareOpts) []string {
	t.Helper()
	ta, tb := readTree(t, mp), f.bucketTree(t, prefix)
	for k, e := range tb {
		if e.Type == "dir" && e.Perm == 0 {
			e.Perm = ta[k].Perm
			tb[k] = e
		}
	}
	diffs, paths := treeDiff(ta, tb, o)
	for i, d := range diffs {
		if i == 20 {
			t.Errorf("... and %d more differences", len(diffs)-20)
			break
		}
		t.Errorf("mount %s vs bucket %s: %s", mp, f.bucket, d)
	}
	if len(ta) == 0 {
		t.Errorf("mount %s is empty: nothing was compared", mp)
	}
	return paths
}

// rcloneRun runs rclone against the server as the remote "m:", configured
// through the environment. AWS_CA_BUNDLE is left out: Debian's rclone
// 1.60 fails with it set. Times are printed in UTC.
func (f *s3Fixture) rcloneRun(t testing.TB, args ...string) ([]byte, error) {
	t.Helper()
	bin, err := exec.LookPath("rclone")
	if err != nil {
		if inCI() {
			t.Fatal("rclone is not installed: run `make deps`")
		}
		t.Skip("rclone is not installed: run `make deps`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "RCLONE_") && !strings.HasPrefix(kv, "TZ=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TZ=UTC",
		"RCLONE_CONFIG="+filepath.Join(t.TempDir(), "rclone.conf"),
		"RCLONE_CONFIG_M_TYPE=s3", "RCLONE_CONFIG_M_PROVIDER=Minio", "RCLONE_CONFIG_M_REGION=us-east-1",
		"RCLONE_CONFIG_M_ENDPOINT="+f.srv.Endpoint,
		"RCLONE_CONFIG_M_ACCESS_KEY_ID="+f.srv.AccessKey,
		"RCLONE_CONFIG_M_SECRET_ACCESS_KEY="+f.srv.SecretKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out: %w", ctx.Err())
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("rclone %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// rclone runs rclone, which must succeed.
func (f *s3Fixture) rclone(t testing.TB, args ...string) []byte {
	t.Helper()
	out, err := f.rcloneRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bounded runs fn and fails the test if it does not return within d: an
// operation on the mount that hangs.
func bounded(t testing.TB, d time.Duration, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
		return errors.New("unreachable")
	}
}
