package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// replay --via to a running serve learns what the app kept as poison from the
// answer's Summary (pkg/functions InvocationSummary), not from the wording of
// its Logs: a message body over Event Hubs' limit, which the handler keeps
// unread and whose log line says nothing of "rejected", is reported too; an
// answer without a summary is not taken for a success.
func TestReplayViaReadsTheAnswersSummary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.ndjson", `{"source":"eventhub","enqueuedTime":"2026-11-02T09:00:00Z","body":{"records":[]}}`)
	over := write("over.ndjson", `{"source":"eventhub","enqueuedTime":"2026-11-02T09:00:00Z","body":{"records":[],"pad":"`+
		strings.Repeat("x", functions.MaxMessageBytes)+`"}}`)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "via.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pl, err := testApp().newPipeline(st, replay.NewARM(time.Now), &guard.Policy{}, quiet) // no policy: nothing here is judged
	if err != nil {
		t.Fatal(err)
	}
	serve := httptest.NewServer(functions.NewHandler(functions.Options{Ingester: pl, Logger: quiet}))
	defer serve.Close()
	// An app that answers like serve but without a Summary.
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			io.WriteString(w, `{"status":"up"}`)
			return
		}
		io.WriteString(w, `{"Outputs":{},"Logs":["activitylog: 1 message bodies: 0 changes, 0 rejected"],"ReturnValue":null}`)
	}))
	defer bare.Close()

	tests := []struct {
		name, url, session string
		wantErr            bool
		want, wantNot      string
	}{
		{"nothing kept", serve.URL, good, false, "0 failed", "poison"},
		{"a body over the message limit, kept unread", serve.URL, over,
			false, "over.ndjson:1: the app kept input it could not read as poison (1 rejected): activitylog: message body 1 of the batch is", ""},
		{"an answer without a summary", bare.URL, good, true, "good.ndjson:1: activitylog: POST /activitylog answered 200 with a body that is not an invocation answer with a summary", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := run(t, "replay", "--via", tt.url, tt.session)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want an error: %v\n%s", err, tt.wantErr, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr)
			}
			if tt.wantNot != "" && strings.Contains(stderr, tt.wantNot) {
				t.Errorf("stderr has %q:\n%s", tt.wantNot, stderr)
			}
		})
	}
	if poison, err := st.ListPoison(ctx); err != nil || len(poison) != 1 {
		t.Errorf("poison = %d record(s) (%v), want the body over the limit", len(poison), err)
	}
}
