package functions

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// acceptingIngester accepts everything; it is safe for the fuzzer's workers.
type acceptingIngester struct{}

func (acceptingIngester) Ingest(ctx context.Context, src guard.Source, body []byte, now time.Time) (guard.Summary, error) {
	return guard.Summary{Rejected: 1}, nil
}

func (acceptingIngester) Sweep(ctx context.Context, now time.Time) (guard.Summary, error) {
	return guard.Summary{}, nil
}

// FuzzEnvelope posts arbitrary bytes to /activitylog and /resourceevents, both as
// the whole request body and as the value of the Data entry (a JSON string, the
// way the host encodes it), through httptest only. The pipeline never fails here,
// so any 500 is a panic the recover middleware caught; every answer must be JSON.
func FuzzEnvelope(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"Data":null}`, `{"Data":{"events":""}}`, `{"Data":{"events":"\"\\\"\\\\\\\"[\\\\\\\"x\\\\\\\"]\\\\\\\"\\\"\""}}`,
		`{"Data":{"event":[[[[[]]]]]}}`, `{"Data":{"events":"[\"\\\"\\\"\"]"}}`, `"[\"{}\"]"`, `["\"\\\"\""]`, "\xff\xfe", `{"Data":{"EVENTS":1e999}}`,
		`{"Data":{"events":"[` + strings.Repeat(`[`, 10000) + `"}}`,
	} {
		f.Add([]byte(s))
	}

	h := NewHandler(Options{
		Ingester: acceptingIngester{},
		Logger:   slog.New(slog.DiscardHandler),
		Now:      func() time.Time { return fixedNow },
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		bodies := [][]byte{in}
		for _, name := range []string{"events", "event"} {
			wrapped, err := json.Marshal(map[string]any{"Data": map[string]any{name: string(in)}})
			if err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, wrapped)
		}
		for _, path := range []string{"/activitylog", "/resourceevents"} {
			for _, body := range bodies {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, hostRequest(http.MethodPost, path, body))
				if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
					t.Fatalf("POST %s = %d %s, want 200 or 400", path, w.Code, w.Body)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Fatalf("POST %s: Content-Type %q", path, ct)
				}
				var ans map[string]json.RawMessage
				if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
					t.Fatalf("POST %s: answer %q is not a JSON object: %v", path, w.Body, err)
				}
				if w.Code == http.StatusOK {
					for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
						if _, ok := ans[k]; !ok {
							t.Fatalf("POST %s: answer %s has no %s", path, w.Body, k)
						}
					}
				}
			}
		}
	})
}
