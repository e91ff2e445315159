package main

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Progress is for a terminal only: where stderr (or stdout) is a pipe, as in
// a CI job, no carriage return and no escape sequence is written (issue 18:
// replay --via and --to-eventhub wrote "\r\033[K" into a pipe). Through the
// built binary, against exportguard serve on a loopback port.
func TestNoControlBytesInAPipe(t *testing.T) {
	bin, _ := buildExportguard(t)
	url := startServe(t, bin)
	dir := t.TempDir()
	session := filepath.Join(dir, "clock.ndjson")
	if err := os.WriteFile(session, []byte(`{"source":"clock","at":"2026-12-04T09:00:00Z"}`+"\nnot json\n"+
		`{"source":"clock","at":"2026-12-04T10:30:00Z"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string // a part of stderr: the run did what it should
	}{
		{"replay --via serve", []string{"replay", "--via", url, session}, "sent 2 invocation(s) to exportguard serve"},
		{"replay", []string{"replay", "testdata/sessions/malformed-lines.ndjson", "testdata/sessions/storage-replication.ndjson"}, "line skipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runExportguard(t, bin, tc.args...)
			if code != 0 || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exportguard %s: exit %d, want 0 and %q on stderr\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.stderr, stdout, stderr)
			}
			for name, out := range map[string]string{"stdout": stdout, "stderr": stderr} {
				if i := strings.IndexAny(out, "\r\033"); i >= 0 {
					t.Errorf("%s (a pipe) has a control byte at %d: %q", name, i, out[max(0, i-40):min(len(out), i+40)])
				}
			}
		})
	}
}

// startServe runs exportguard serve on a loopback port with an in-memory
// store until the test ends, and returns its URL.
func startServe(t *testing.T, bin string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	serve := exec.Command(bin, "serve", "--port", port)
	serve.Env = append(os.Environ(), "EXPORTGUARD_STORE=memory:", "EXPORTGUARD_LOG_LEVEL=warn")
	var log strings.Builder
	serve.Stdout, serve.Stderr = &log, &log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-exited
		}
	})
	url := "http://127.0.0.1:" + port
	for range 200 { // 10 s
		if resp, err := http.Get(url + "/"); err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case err := <-exited:
			t.Fatalf("serve stopped: %v\n%s", err, log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("serve does not answer on %s", url)
	return ""
}
