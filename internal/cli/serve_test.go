package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exportguard serve, as the host starts it: it listens on
// 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, answers the readiness probe on / and
// the health function, and stops when told to.
func TestServeAnswersTheHost(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	app := envApp(map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": port,
		envStore:                       "sqlite:" + filepath.Join(t.TempDir(), "serve.db"),
		envPolicy:                      "testdata/sessions/gov-storage-replication.policy.yaml",
		envLogLevel:                    "warn",
	})
	app.Stdout, app.Stderr = io.Discard, io.Discard

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, []string{"serve"})
	}()
	base := "http://127.0.0.1:" + port
	// The host polls / until any answer arrives; so do we, a bounded number of times.
	var resp *http.Response
	for i := 0; i < 200; i++ {
		if resp, err = http.Get(base + "/"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped before answering: %v", err)
		case <-time.After(25 * time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("serve never answered the readiness probe: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d, want 200", resp.StatusCode)
	}
	hr, err := http.Post(base+"/health", "application/json",
		strings.NewReader(`{"Data":{"req":{"Url":"http://localhost:7071/api/health","Method":"GET","Query":{},"Headers":{}}},"Metadata":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || !strings.Contains(string(body), `"status":"ok"`) {
		t.Errorf("health invocation = %d %s, want 200 with status ok", hr.StatusCode, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop after its context was cancelled")
	}
}

func TestServeWithoutPortSaysWhy(t *testing.T) {
	t.Parallel()
	_, _, err := runApp(t, envApp(nil), "serve")
	if err == nil || !strings.Contains(err.Error(), "FUNCTIONS_CUSTOMHANDLER_PORT") {
		t.Errorf("err = %v, want one naming FUNCTIONS_CUSTOMHANDLER_PORT", err)
	}
}
