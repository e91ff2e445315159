package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/session"
)

// One rule for a line over session.MaxLineBytes, whoever reads the session
// (DESIGN 3.2, pkg/session): it is reported by its number as malformed, and
// every line after it is read and acted on as if it were not there. Before
// pkg/session, replay skipped it and replay --via and --to-eventhub stopped.
func TestOverLongLineIsSkippedByEveryReader(t *testing.T) {
	t.Parallel()
	const base = "testdata/sessions/storage-replication.ndjson"
	raw, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(raw, []byte("\n"))
	long := `{"source":"eventhub","enqueuedTime":"2026-11-02T09:00:00Z","body":"` + strings.Repeat("x", session.MaxLineBytes) + `"}`
	path := filepath.Join(t.TempDir(), "long.ndjson")
	if err := os.WriteFile(path, []byte(string(first)+"\n"+long+"\n"+string(rest)), 0o600); err != nil {
		t.Fatal(err)
	}
	const report = "long.ndjson:2: line longer than 8388608 bytes; line skipped"

	tests := []struct {
		name string
		run  func(t *testing.T) (stderr string, err error)
		// same checks that what follows the long line was all read: the
		// outcome equals the outcome of the session without it.
		same func(t *testing.T)
	}{
		{"replay", func(t *testing.T) (string, error) {
			_, stderr, err := run(t, "replay", "--format", "json", path)
			return stderr, err
		}, func(t *testing.T) {
			want, _, err := run(t, "replay", "--format", "json", base)
			if err != nil {
				t.Fatal(err)
			}
			got, _, _ := run(t, "replay", "--format", "json", path)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings differ from the session's without the long line (-want +got):\n%s", diff)
			}
		}},
		{"replay --via", func(t *testing.T) (string, error) {
			host := &fakeFunctionsHost{t: t}
			srv := httptest.NewServer(host)
			defer srv.Close()
			_, stderr, err := run(t, "replay", "--via", srv.URL, path)
			if diff := cmp.Diff(expectedViaCalls(t, base), host.calls); err == nil && diff != "" {
				t.Errorf("invocations differ from the session's without the long line (-want +got):\n%s", diff)
			}
			return stderr, err
		}, nil},
		{"replay --to-eventhub", func(t *testing.T) (string, error) {
			s := &ehtest.Sender{MaxBytes: 1 << 20}
			var errs bytes.Buffer
			st, err := publishSessions(context.Background(), &eventhubs.Publisher{Sender: s}, []string{path}, &errs, nil)
			if diff := cmp.Diff(eventHubBodies(t, base), sentBodies(t, s)); err == nil && diff != "" {
				t.Errorf("messages differ from the session's without the long line (-want +got):\n%s", diff)
			}
			if err == nil && st.bad != 1 {
				t.Errorf("%d malformed line(s), want 1", st.bad)
			}
			return errs.String(), err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr, err := tt.run(t)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, report) {
				t.Errorf("stderr lacks %q:\n%s", report, stderr)
			}
			if tt.same != nil {
				tt.same(t)
			}
		})
	}
}
