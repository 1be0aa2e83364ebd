// Package s3test runs a real MinIO server for tests: on 127.0.0.1, on a
// free port, with a temp data directory and random root credentials.
//
//	srv := s3test.Start(t)        // stopped when t ends
//	bucket := srv.NewBucket(t)    // fresh and empty
//	r, err := s3.New(ctx, s3.Config{Bucket: bucket, Endpoint: srv.Endpoint,
//		AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey})
//
// The binary is $FERRY_TOOLS_BIN/minio (make tools builds it there), else
// minio on PATH, else .tools/bin/minio in the repository. Without one the
// test is skipped, unless CI=true, where it fails.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	readyTimeout = 60 * time.Second // MinIO formats its drive on first start
	stopTimeout  = 10 * time.Second
	logLimit     = 64 << 10 // bytes of server output kept for failure reports
)

// Server is a running MinIO. Its methods are safe for concurrent use.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string // us-east-1

	bin     string
	addr    string
	dataDir string

	mu   sync.Mutex   // guards cmd, done and out
	cmd  *exec.Cmd    // nil while stopped
	done chan error   // receives the exit of cmd
	out  *bytesBuffer // the server's output
}

// Start starts MinIO and waits until it serves requests. It is stopped, and
// its data removed, when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "minio not found in $FERRY_TOOLS_BIN, PATH or .tools/bin: run `make tools`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{
		AccessKey: "ferry" + randomHex(6),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
		bin:       bin,
		dataDir:   t.TempDir(),
		out:       &bytesBuffer{},
	}
	// A port found free can be taken before MinIO binds it: try a few.
	var err error
	for range 3 {
		s.addr = freeAddr(t)
		s.Endpoint = "http://" + s.addr
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("s3test: start minio: %v\n%s", err, s.out.String())
	}
	t.Cleanup(s.Stop)
	return s
}

// Binary returns the path of the minio binary tests use, or "".
func Binary() string {
	if dir := os.Getenv("FERRY_TOOLS_BIN"); dir != "" {
		if p := filepath.Join(dir, "minio"); isExec(p) {
			return p
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	if root := repoRoot(); root != "" {
		if p := filepath.Join(root, ".tools", "bin", "minio"); isExec(p) {
			return p
		}
	}
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// repoRoot finds the directory of ferry's go.mod above the working directory.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/ferry-fs/ferry\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// start runs the server on s.addr and waits until it is ready.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.addr, s.dataDir)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
	)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test binary dies
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := waitReady(s.Endpoint, done); err != nil {
		cmd.Process.Kill()
		<-done
		return err
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady polls MinIO's readiness endpoint until it answers 200, the
// process exits, or readyTimeout passes.
func waitReady(endpoint string, done <-chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-done:
			return fmt.Errorf("minio exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("minio not ready after %v", readyTimeout)
}

// Stop stops the server, keeping its data; requests fail until Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Restart stops the server if it runs and starts it again on the same
// address with the same data and credentials.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("s3test: restart minio: %v\n%s", err, s.out.String())
	}
}

// Output returns the tail of the server's output.
func (s *Server) Output() string { return s.out.String() }

// Client returns an S3 client for the server, to set up what a test needs
// behind the back of the code under test.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates the bucket name.
func (s *Server) CreateBucket(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("s3test: create bucket %q: %v", name, err)
	}
}

// NewBucket creates a bucket with a fresh random name and returns the name.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := "ferry-" + randomHex(8)
	s.CreateBucket(t, name)
	return name
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("s3test: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bytesBuffer keeps the last logLimit bytes written to it, for concurrent
// writers.
type bytesBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *bytesBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > logLimit {
		b.buf = b.buf[len(b.buf)-logLimit:]
	}
	return len(p), nil
}

func (b *bytesBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
