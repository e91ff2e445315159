package functions

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// blockingIngester holds every Ingest until release is closed.
type blockingIngester struct {
	fakeIngester
	started chan struct{}
	release chan struct{}
}

func (b *blockingIngester) Ingest(ctx context.Context, src guard.Source, body []byte, now time.Time) (guard.Summary, error) {
	b.started <- struct{}{}
	<-b.release
	return b.fakeIngester.Ingest(ctx, src, body, now)
}

func TestServeOverLoopback(t *testing.T) {
	ing := &blockingIngester{started: make(chan struct{}, 1), release: make(chan struct{})}
	h, _ := newTestHandler(t, ing, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, h, slog.New(slog.DiscardHandler)) }()
	base := "http://" + ln.Addr().String()

	// The host's readiness probe, on the wire: the content type is the one the
	// handler set, not one net/http sniffed.
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET / = %d %q, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// An invocation in flight when the handler is told to stop still gets its answer.
	type result struct {
		resp *http.Response
		body []byte
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/resourceevents", bytes.NewReader(readTestdata(t, "resourceevents-eventgrid.json")))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("X-Azure-Functions-InvocationId", "7d1c9e2a-0000-4000-8000-000000000001")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- result{resp, b, err}
	}()
	<-ing.started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("serve returned %v with an invocation in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ing.release)
	r := <-answered
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.resp.StatusCode != http.StatusOK || r.resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(r.body), `"Outputs"`) {
		t.Errorf("in-flight invocation = %d %q %s, want 200 application/json with Outputs", r.resp.StatusCode, r.resp.Header.Get("Content-Type"), r.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after a clean shutdown = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Errorf("the handler still answers after shutdown")
	}
}

func TestListenAndServe(t *testing.T) {
	t.Run("cannot listen", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		h, _ := newTestHandler(t, &fakeIngester{}, nil)
		err = ListenAndServe(context.Background(), ln.Addr().String(), h, nil)
		if err == nil || !strings.Contains(err.Error(), "listen") {
			t.Errorf("ListenAndServe on a taken port = %v, want a listen error", err)
		}
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		h, _ := newTestHandler(t, &fakeIngester{}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := ListenAndServe(ctx, "127.0.0.1:0", h, slog.New(slog.DiscardHandler)); err != nil {
			t.Errorf("ListenAndServe = %v, want nil", err)
		}
	})
}
