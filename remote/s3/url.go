package s3

import (
	"errors"
	"fmt"
	"strings"
)

// ParseURL splits s3://BUCKET[/PREFIX] into the bucket and the key prefix,
// which ends in "/" unless it is empty: "s3://b/photos" and "s3://b/photos/"
// both name the folder "photos/" of bucket b.
func ParseURL(s string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL (want s3://BUCKET or s3://BUCKET/PREFIX)", s)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", "", fmt.Errorf("%q: an s3:// URL has no query or fragment", s)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if err := checkBucketName(bucket); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	if prefix, err = cleanPrefix(prefix); err != nil {
		return "", "", fmt.Errorf("%q: %w", s, err)
	}
	return bucket, prefix, nil
}

// checkBucketName applies S3's rules for bucket names: 3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit.
func checkBucketName(b string) error {
	switch {
	case b == "":
		return errors.New("no bucket name")
	case len(b) < 3 || len(b) > 63:
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	case strings.Contains(b, ".."):
		return fmt.Errorf("bucket name %q has two dots in a row", b)
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !alnum(c) && c != '.' && c != '-' {
			return fmt.Errorf("bucket name %q may only hold lower-case letters, digits, '.' and '-'", b)
		}
	}
	if !alnum(b[0]) || !alnum(b[len(b)-1]) {
		return fmt.Errorf("bucket name %q must start and end with a letter or digit", b)
	}
	return nil
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// cleanPrefix checks a key prefix and returns it ending in "/", or "".
func cleanPrefix(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	if err := checkSegments(p); err != nil {
		return "", fmt.Errorf("prefix %q: %w", p, err)
	}
	if len(p)+1 > maxKeyLen/2 {
		return "", fmt.Errorf("prefix %q is longer than %d bytes", p, maxKeyLen/2-1)
	}
	return p + "/", nil
}
