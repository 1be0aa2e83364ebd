package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestE2ES3ImportInterrupted: the first mount of a bucket imports its
// tree in the background; when that import stops halfway, nothing is
// missing for good. A mount killed during the import: the next mount on
// the same cache dir shows the whole tree. A listing the server refuses:
// the mount stays up, and shows the whole tree once the server answers.
func TestE2ES3ImportInterrupted(t *testing.T) {
	t.Parallel()
	srv := newS3(t).srv
	for _, mode := range []string{"kill", "error"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := &s3Fixture{srv: srv, bucket: srv.NewBucket(t)}
			ctx := ctxFor(t, time.Minute)
			for i := range 5 {
				for j := range 4 {
					key, body := fmt.Sprintf("d%d/f%d.txt", i, j), fmt.Sprintf("file %d of directory %d\n", j, i)
					if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: strings.NewReader(body)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			proxy := newRecordingProxy(t, srv.Endpoint)
			stuck := make(chan struct{}, 1)
			release := make(chan struct{})
			releaseOnce := sync.OnceFunc(func() { close(release) })
			t.Cleanup(releaseOnce)
			proxy.setHook(func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
				if r.Method != http.MethodGet || r.URL.Query().Get("prefix") != "d3/" {
					return false
				}
				select {
				case stuck <- struct{}{}:
				default:
				}
				if mode == "error" {
					http.Error(w, "", http.StatusForbidden)
					return true
				}
				select { // until ferry dies
				case <-r.Context().Done():
				case <-release:
				}
				return true
			})
			d := f.dirs(t)
			flags := []string{"--s3-endpoint", proxy.URL}
			cmd := exec.Command(ferryBin, append([]string{"mount", d.Remote, d.MP, "--cache-dir", d.Cache}, flags...)...)
			cmd.Env = f.env()
			var out lockedBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-stuck:
			case err := <-exited:
				t.Fatalf("ferry mount exited before listing d3/: %v\n%s", err, out.String())
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("ferry mount never listed d3/ within 60s\n%s", out.String())
			}
			if mode == "error" {
				// The mount stays up while the server refuses; once it
				// answers again, the directory is listed when it is read.
				time.Sleep(200 * time.Millisecond)
				select {
				case err := <-exited:
					t.Fatalf("ferry mount ended when a listing failed (%v)\n%s", err, out.String())
				default:
				}
				releaseOnce()
				proxy.setHook(nil)
				m := &ferryMount{t: t, mountDirs: d}
				f.compareBucket(t, m.MP, "", compareOpts{fileMtimes: true})
				cmd.Process.Signal(os.Interrupt)
				<-exited
				return
			}
			cmd.Process.Kill()
			<-exited
			t.Logf("the first mount was killed during its import:\n%s", out.String())
			releaseOnce()
			proxy.setHook(nil)
			m := startMountEnv(t, d, f.env(), flags...) // cleans up the stale mountpoint
			f.compareBucket(t, m.MP, "", compareOpts{fileMtimes: true})
			m.unmount()
		})
	}
}
