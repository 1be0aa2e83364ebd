package s3

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-fs/ferry/remote"
	"github.com/ferry-fs/ferry/remote/s3/s3test"
)

// wantNewError checks that New fails with one line containing want and no
// secret.
func wantNewError(t *testing.T, cfg Config, want string) {
	t.Helper()
	start := time.Now()
	r, err := New(t.Context(), cfg)
	if err == nil {
		t.Fatalf("New(%+v) = %v, want an error", cfg.Bucket, r)
	}
	msg := err.Error()
	t.Logf("New: %s (after %v)", msg, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(msg, want) {
		t.Errorf("New: error %q, want it to contain %q", msg, want)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("New: error is not one line: %q", msg)
	}
	if cfg.SecretAccessKey != "" && strings.Contains(msg, cfg.SecretAccessKey) {
		t.Errorf("New: error reveals the secret key: %q", msg)
	}
}

func TestNewErrors(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	good := Config{Bucket: bucket, Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}
	if _, err := New(t.Context(), good); err != nil {
		t.Fatalf("New with a good configuration: %v", err)
	}
	with := func(f func(*Config)) Config {
		c := good
		f(&c)
		return c
	}

	wantNewError(t, with(func(c *Config) { c.Bucket = "no-such-bucket" }),
		`s3: bucket "no-such-bucket" does not exist at `+srv.Endpoint)
	wantNewError(t, with(func(c *Config) { c.SecretAccessKey = "wrong-secret-key-0123" }),
		`access to bucket "`+bucket+`" at `+srv.Endpoint+` denied (SignatureDoesNotMatch`)
	wantNewError(t, with(func(c *Config) { c.AccessKeyID = "nobody" }),
		`denied (InvalidAccessKeyId`)

	// Nothing listens: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	wantNewError(t, with(func(c *Config) { c.Endpoint = closed }), "s3: cannot reach "+closed)
	if d := time.Since(start); d > checkTimeout {
		t.Errorf("New took %v for a refused connection, more than %v", d, checkTimeout)
	}

	// Something listens but never answers: bounded by the check timeout.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start = time.Now()
	wantNewError(t, with(func(c *Config) {
		c.Endpoint = "http://" + silent.Addr().String()
		c.checkTimeout = time.Second
	}), "no answer from http://"+silent.Addr().String()+" within 1s")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v against a silent server, want about 1s", d)
	}

	// Configuration mistakes.
	wantNewError(t, with(func(c *Config) { c.Bucket = "Bad_Bucket" }), `bucket name "Bad_Bucket"`)
	wantNewError(t, with(func(c *Config) { c.Endpoint = "127.0.0.1:9000" }), `is not an http:// or https:// URL`)
	wantNewError(t, with(func(c *Config) { c.PartSize = 1 << 20 }), "part size")
	wantNewError(t, with(func(c *Config) { c.Prefix = "a/../b" }), `prefix "a/../b"`)
	wantNewError(t, with(func(c *Config) { c.SecretAccessKey = "" }), "set both")
}

// TestNewFromEnvironment checks that the standard AWS environment
// variables configure New, endpoint and path-style addressing included.
func TestNewFromEnvironment(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.Endpoint)
	r, err := New(t.Context(), Config{Bucket: bucket, Prefix: "p"})
	if err != nil {
		t.Fatalf("New from the environment: %v", err)
	}
	if err := r.Mkdir(t.Context(), "d", remote.Meta{}); err != nil {
		t.Fatalf("Mkdir: %v", err)
	}
	if e, err := r.Stat(t.Context(), "d"); err != nil || !e.Dir {
		t.Fatalf("Stat = %+v, %v", e, err)
	}
}
