package s3

import (
	"errors"
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ferry-fs/ferry/remote"
)

// TestMtimeFormat pins the x-amz-meta-mtime format to rclone's (github.com/
// ncw/swift TimeToFloatString): decimal seconds, trailing zeros dropped.
func TestMtimeFormat(t *testing.T) {
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1354040105, 123456789), "1354040105.123456789"}, // swift's own example
		{time.Unix(1614834367, 250_000_000), "1614834367.25"},
		{time.Unix(1614834367, 0), "1614834367"},
		{time.Unix(0, 1), "0.000000001"},
		{time.Unix(0, 0), "0"},
		{time.Unix(-1, 0), "-1"},
		{time.Unix(-2, 500_000_000), "-1.5"},
	} {
		if got := formatMtime(c.t); got != c.want {
			t.Errorf("formatMtime(%v) = %q, want %q", c.t, got, c.want)
		}
		if back, err := parseMtime(c.want); err != nil || !back.Equal(c.t) {
			t.Errorf("parseMtime(%q) = %v, %v; want %v", c.want, back, err, c.t)
		}
	}
	// What rclone reads, ferry reads: more than nine digits are cut.
	if got, err := parseMtime("1.1234567891"); err != nil || got.UnixNano() != 1_123456789 {
		t.Errorf("parseMtime of ten decimals = %v, %v", got, err)
	}
	for _, bad := range []string{"", ".5", "1.", "-", "abc", "1e9", "1.2.3"} {
		if got, err := parseMtime(bad); err == nil {
			t.Errorf("parseMtime(%q) = %v, want an error", bad, got)
		}
	}
}

// TestModeFormat pins "mode" to rclone's: the octal st_mode with its type.
func TestModeFormat(t *testing.T) {
	for _, c := range []struct {
		m    fs.FileMode
		typ  uint32
		want string
	}{
		{0o644, sIFREG, "100644"}, // rclone's example is "0100664": same number
		{0o755, sIFDIR, "40755"},
		{0o777, sIFLNK, "120777"},
		{0o755 | fs.ModeSetuid | fs.ModeSticky, sIFREG, "105755"},
	} {
		if got := formatMode(c.m, c.typ); got != c.want {
			t.Errorf("formatMode(%v) = %q, want %q", c.m, got, c.want)
		}
		if got := parseMode(c.want); got != c.m {
			t.Errorf("parseMode(%q) = %v, want %v", c.want, got, c.m)
		}
	}
	if got := parseMode("0100664"); got != 0o664 {
		t.Errorf("parseMode(rclone's example) = %v", got)
	}
	if got := parseMode("rw-r--r--"); got != 0 {
		t.Errorf("parseMode of garbage = %v, want 0", got)
	}
}

func TestParseURL(t *testing.T) {
	for _, c := range []struct{ in, bucket, prefix, err string }{
		{"s3://bucket", "bucket", "", ""},
		{"s3://bucket/", "bucket", "", ""},
		{"s3://my.bucket-1/photos", "my.bucket-1", "photos/", ""},
		{"s3://b12/a/b c/", "b12", "a/b c/", ""},
		{"s3://b12/日本", "b12", "日本/", ""},
		{"bucket/x", "", "", "not an s3:// URL"},
		{"S3://bucket", "", "", "not an s3:// URL"},
		{"s3://", "", "", "no bucket name"},
		{"s3:///x", "", "", "no bucket name"},
		{"s3://ab", "", "", "3 to 63"},
		{"s3://Bucket", "", "", "lower-case"},
		{"s3://bucket_x", "", "", "lower-case"},
		{"s3://-bucket", "", "", "start and end"},
		{"s3://a..b", "", "", "two dots"},
		{"s3://bucket/a//b", "", "", "empty segment"},
		{"s3://bucket/a/../b", "", "", `".."`},
		{"s3://bucket/x?versionId=1", "", "", "no query"},
	} {
		b, p, err := ParseURL(c.in)
		switch {
		case c.err == "" && (err != nil || b != c.bucket || p != c.prefix):
			t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q", c.in, b, p, err, c.bucket, c.prefix)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseURL(%q) = %q, %q, %v; want an error about %q", c.in, b, p, err, c.err)
		}
	}
}

func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"a", "a/b", "...", "a..b", " x ", "日本/語", strings.Repeat("x", 255), "x.rclonelinks", "a/.ferry"} {
		if err := checkPath(ok, false); err != nil {
			t.Errorf("checkPath(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/..", "nul\x00", "bad\xff",
		strings.Repeat("x", 256), "x.rclonelink", "d/x.rclonelink", ".ferry", ".ferry/trash"} {
		if err := checkPath(bad, false); err == nil {
			t.Errorf("checkPath(%q) = nil, want an error", bad)
		}
	}
}

// apiErr builds the error the SDK returns for an HTTP status and S3 code.
func apiErr(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "the server's words"},
	}}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		want   error // nil: transient
	}{
		{404, "NoSuchKey", remote.ErrNotFound},
		{404, "NotFound", remote.ErrNotFound},
		{404, "NoSuchBucket", remote.ErrPermanent},
		{412, "PreconditionFailed", remote.ErrPrecondition},
		{409, "ConditionalRequestConflict", remote.ErrPrecondition},
		{403, "AccessDenied", remote.ErrPermanent},
		{403, "Forbidden", remote.ErrPermanent},
		{400, "InvalidArgument", remote.ErrPermanent},
		{400, "KeyTooLongError", remote.ErrPermanent},
		{400, "SomethingNew", remote.ErrPermanent},
		{400, "RequestTimeout", nil},
		{403, "RequestTimeTooSkewed", nil},
		{503, "SlowDown", nil},
		{500, "InternalError", nil},
		{502, "", nil},
		{429, "", nil},
		{409, "OperationAborted", nil},
	} {
		err := fail(t.Context(), "put", "k", apiErr(c.status, c.code))
		for _, class := range []error{remote.ErrNotFound, remote.ErrPrecondition, remote.ErrPermanent} {
			if got := errors.Is(err, class); got != (class == c.want) {
				t.Errorf("%d %s: errors.Is(%v) = %v", c.status, c.code, class, got)
			}
		}
		if c.code != "" && !strings.Contains(err.Error(), c.code+": the server's words") {
			t.Errorf("%d %s: message %q lacks the server's code and message", c.status, c.code, err)
		}
	}
	// Without a response: the network failed, which is transient.
	if err := fail(t.Context(), "get", "k", errors.New("connection reset by peer")); remote.IsPermanent(err) {
		t.Errorf("a network error is permanent: %v", err)
	}
}
