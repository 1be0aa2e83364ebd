package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// absPath returns the absolute, symlink-free form of p (p must exist).
func absPath(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(a); err == nil {
		return r, nil
	}
	return a, nil
}

// localRemotePath parses a folder path or a file:// URL.
func localRemotePath(spec string) (string, error) {
	if spec == "" {
		return "", errors.New("remote is empty")
	}
	if i := strings.Index(spec, "://"); i > 0 {
		u, err := url.Parse(spec)
		if err != nil {
			return "", fmt.Errorf("remote %q: %v", spec, err)
		}
		if u.Scheme != "file" {
			return "", fmt.Errorf("remote %q: unsupported scheme %q (use a folder path or file:///path)", spec, u.Scheme)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("remote %q: file URLs must name a local path (file:///path)", spec)
		}
		spec = u.Path
	}
	st, err := os.Stat(spec)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("remote folder %s does not exist", spec)
		}
		return "", fmt.Errorf("remote folder %s: %v", spec, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return "", fmt.Errorf("remote %s is not a folder", spec)
	}
	return absPath(spec)
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// isMounted reports whether path is a mountpoint, according to mountinfo.
func isMounted(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == path {
			return true, nil
		}
	}
	return false, s.Err()
}

// unescapeMount decodes the octal escapes of mountinfo (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isStale reports whether err is what a dead FUSE server leaves behind.
func isStale(err error) bool {
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}

// registry maps a mountpoint to the cache dir of the mount serving it, so
// that `ferry status MOUNTPOINT` finds the control socket.
type registryEntry struct {
	Mountpoint string `json:"mountpoint"`
	CacheDir   string `json:"cache_dir"`
	Remote     string `json:"remote"`
	PID        int    `json:"pid"`
}

func registryDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "ferry", "mounts"), nil
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

func registryPath(mountpoint string) (string, error) {
	d, err := registryDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, shortHash(mountpoint)+".json"), nil
}

func register(e registryEntry) error {
	p, err := registryPath(e.Mountpoint)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	v, _ := json.Marshal(e)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, v, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func unregister(mountpoint string) {
	if p, err := registryPath(mountpoint); err == nil {
		os.Remove(p)
	}
}

func lookupMount(mountpoint string) (registryEntry, error) {
	var e registryEntry
	abs, err := normMount(mountpoint)
	if err != nil {
		return e, err
	}
	p, err := registryPath(abs)
	if err != nil {
		return e, err
	}
	v, err := os.ReadFile(p)
	if err != nil {
		return e, fmt.Errorf("%s is not a ferry mount", mountpoint)
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, fmt.Errorf("registry entry for %s: %v", mountpoint, err)
	}
	return e, nil
}

// defaultCacheDir is a per-mount directory under the user cache dir.
func defaultCacheDir(remote, mountpoint string) (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache dir (%v): pass --cache-dir", err)
	}
	return filepath.Join(d, "ferry", shortHash(remote+"\x00"+mountpoint)), nil
}

// normMount names a mountpoint the same way whether or not it is mounted
// (a stat of a stale mountpoint fails): its parent's real path plus its name.
func normMount(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(r, filepath.Base(abs))
	}
	return abs, nil
}
