package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// fakeIngester records what reached the pipeline. ingestErr, when set, decides
// the error of each Ingest call by its index.
type fakeIngester struct {
	mu        sync.Mutex
	ingested  []ingestCall
	sweeps    []time.Time
	summary   guard.Summary
	ingestErr func(i int) error
	sweepErr  error
	panicking bool
}

type ingestCall struct {
	src  guard.Source
	body []byte
	now  time.Time
}

func (f *fakeIngester) Ingest(ctx context.Context, src guard.Source, body []byte, now time.Time) (guard.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicking {
		panic("pipeline bug")
	}
	i := len(f.ingested)
	f.ingested = append(f.ingested, ingestCall{src, bytes.Clone(body), now})
	if f.ingestErr != nil {
		if err := f.ingestErr(i); err != nil {
			return guard.Summary{}, err
		}
	}
	return f.summary, nil
}

func (f *fakeIngester) Sweep(ctx context.Context, now time.Time) (guard.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweeps = append(f.sweeps, now)
	return f.summary, f.sweepErr
}

// bodies returns what reached Ingest, as strings for readable diffs.
func (f *fakeIngester) bodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.ingested {
		out = append(out, string(c.body))
	}
	return out
}

var fixedNow = time.Date(2026, 11, 20, 14, 5, 45, 0, time.UTC)

// errStoreDown carries a URL with a secret, which must never reach an answer or a
// Logs line.
var errStoreDown = errors.New("store down: GET https://cosmos.example.net/dbs/eg?sig=SECRETSIG: 503")

func newTestHandler(t testing.TB, ing Ingester, mod func(*Options)) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	opts := Options{
		Ingester: ing,
		Now:      func() time.Time { return fixedNow },
		Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&opts)
	}
	return NewHandler(opts), &logs
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostRequest is a request as the Functions host sends it (§2.1).
func hostRequest(method, path string, body []byte) *http.Request {
	r := httptest.NewRequest(method, "http://127.0.0.1:40231"+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("X-Azure-Functions-InvocationId", "3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d")
	r.Header.Set("X-Azure-Functions-HostVersion", "4.1037.0.23568")
	r.Header.Set("User-Agent", "Azure-Functions-Host/4.1037.0.23568")
	return r
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// answer is a decoded invocation answer.
type answer struct {
	Outputs     map[string]json.RawMessage
	Logs        []string
	ReturnValue json.RawMessage
	Summary     *InvocationSummary
}

// checkJSON checks the status and the content type and returns the body.
func checkJSON(t *testing.T, w *httptest.ResponseRecorder, wantStatus int) []byte {
	t.Helper()
	if w.Code != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", w.Code, wantStatus, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !json.Valid(w.Body.Bytes()) {
		t.Fatalf("body is not JSON: %q", w.Body)
	}
	return w.Body.Bytes()
}

// checkAnswer checks a successful invocation answer: 200, JSON, exactly the keys
// Outputs, Logs and ReturnValue (the host's, §2.2) and, for a function that
// ingests, Summary (which the host ignores); ReturnValue null.
func checkAnswer(t *testing.T, w *httptest.ResponseRecorder) answer {
	t.Helper()
	body := checkJSON(t, w, http.StatusOK)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		t.Fatalf("answer is not an object: %v", err)
	}
	if got, want := slices.Sorted(func(yield func(string) bool) {
		for k := range keys {
			if k != "Summary" && !yield(k) {
				return
			}
		}
	}), []string{"Logs", "Outputs", "ReturnValue"}; !slices.Equal(got, want) {
		t.Errorf("answer keys = %v, want %v", got, want)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	if a.Outputs == nil {
		t.Errorf("Outputs = %s, want an object", keys["Outputs"])
	}
	if string(a.ReturnValue) != "null" {
		t.Errorf("ReturnValue = %s, want null", a.ReturnValue)
	}
	return a
}

// checkError checks an error answer: the status, JSON {"error": "..."}, and no
// secret from the failure.
func checkError(t *testing.T, w *httptest.ResponseRecorder, wantStatus int) {
	t.Helper()
	body := checkJSON(t, w, wantStatus)
	var e struct{ Error string }
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Errorf("error answer = %s, want {\"error\": …}", body)
	}
	if strings.Contains(string(body), "SECRETSIG") || strings.Contains(string(body), "cosmos.example.net") {
		t.Errorf("error answer leaks the failure's detail: %s", body)
	}
}

// envelope builds an invocation body around one Data entry.
func envelope(name string, value any) []byte {
	b, err := json.Marshal(map[string]any{"Data": map[string]any{name: value}, "Metadata": map[string]any{}})
	if err != nil {
		panic(err)
	}
	return b
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestActivityLog(t *testing.T) {
	body1 := string(readTestdata(t, "eventhub-body-1.json"))
	body2 := string(readTestdata(t, "eventhub-body-2.json"))
	body3 := string(readTestdata(t, "eventhub-body-3-truncated.json"))
	arrayOfBodies := func(bodies ...string) string { // what JsonConvert makes of string[]
		b, _ := json.Marshal(bodies)
		return string(b)
	}

	tests := []struct {
		name       string
		req        []byte
		wantBodies []string
		wantLog    string // a Logs line contains this
	}{
		{
			name:       "host batch: a JSON string holding an array of strings",
			req:        readTestdata(t, "activitylog-batch.json"),
			wantBodies: []string{body1, body2},
			wantLog:    "activitylog: 2 message bodies: 2 changes, 0 duplicates",
		},
		{
			name:       "host batch encoded once more",
			req:        readTestdata(t, "activitylog-batch-double.json"),
			wantBodies: []string{body1, body2},
			wantLog:    "2 message bodies",
		},
		{
			name:       "a body the pipeline cannot read goes to it with the others",
			req:        readTestdata(t, "activitylog-poison.json"),
			wantBodies: []string{body1, body3, body2},
			wantLog:    "3 message bodies",
		},
		{
			name:       "admin invoke: a one-element array",
			req:        readTestdata(t, "activitylog-admin-invoke.json"),
			wantBodies: []string{body2},
			wantLog:    "1 message bodies",
		},
		{
			name:       "array sent directly",
			req:        envelope("events", []string{body2, body1}),
			wantBodies: []string{body2, body1},
		},
		{
			name:       "elements that are objects (dataType omitted)",
			req:        []byte(`{"Data":{"events":"[{\"records\":[{\"time\":\"2026-11-20T14:03:11Z\"}]},{\"records\":[]}]"},"Metadata":{}}`),
			wantBodies: []string{`{"records":[{"time":"2026-11-20T14:03:11Z"}]}`, `{"records":[]}`},
		},
		{
			name:       "array of objects sent directly",
			req:        []byte(`{"Data":{"events":[{"records":[]}, {"records" : [ ]}]}}`),
			wantBodies: []string{`{"records":[]}`, `{"records" : [ ]}`},
		},
		{
			name:       "elements that are double-encoded strings",
			req:        envelope("events", arrayOfBodies(jsonString(body1), body2)),
			wantBodies: []string{body1, body2},
		},
		{
			name:       "empty batch",
			req:        envelope("events", "[]"),
			wantBodies: nil,
			wantLog:    "0 message bodies",
		},
		{
			name:       "non-string elements go on as they are",
			req:        envelope("events", `[null,42,"{}"]`),
			wantBodies: []string{"null", "42", "{}"},
		},
		{
			name:       "not an array: passed whole, decoded as far as it goes",
			req:        envelope("events", jsonString("not an array")),
			wantBodies: []string{"not an array"},
			wantLog:    "Data.events is not an array of message bodies",
		},
		{
			name:       "broken array: passed whole",
			req:        envelope("events", `["{\"records\":[]}", `),
			wantBodies: []string{`["{\"records\":[]}", `},
			wantLog:    "passed whole to the pipeline",
		},
		{
			name:       "a single body (cardinality one): passed whole",
			req:        envelope("events", jsonString(body2)),
			wantBodies: []string{body2},
			wantLog:    "passed whole",
		},
		{
			name:       "binding name matched regardless of case",
			req:        []byte(`{"data":{"Events":"[\"{}\"]"}}`),
			wantBodies: []string{"{}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{summary: guard.Summary{Changes: 1}}
			h, _ := newTestHandler(t, ing, nil)
			a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/activitylog", tt.req)))
			if diff := cmp.Diff(tt.wantBodies, ing.bodies()); diff != "" {
				t.Errorf("bodies that reached Ingest (-want +got):\n%s", diff)
			}
			for _, c := range ing.ingested {
				if c.src != guard.SourceEventHub || !c.now.Equal(fixedNow) {
					t.Errorf("Ingest(%q, …, %v), want (%q, …, %v)", c.src, c.now, guard.SourceEventHub, fixedNow)
				}
			}
			if len(a.Outputs) != 0 {
				t.Errorf("Outputs = %v, want none (no output bindings)", a.Outputs)
			}
			if tt.wantLog != "" && !slices.ContainsFunc(a.Logs, func(l string) bool { return strings.Contains(l, tt.wantLog) }) {
				t.Errorf("Logs = %q, want a line containing %q", a.Logs, tt.wantLog)
			}
		})
	}
}

// TestActivityLogFixtureShape checks the fixture against the research note's recipe
// (§2.5, §9.3), independently of the handler: unmarshal to a string, then to
// []string; the *Array metadata entries are strings holding arrays.
func TestActivityLogFixtureShape(t *testing.T) {
	var inv struct {
		Data     struct{ Events string }
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(readTestdata(t, "activitylog-batch.json"), &inv); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	if err := json.Unmarshal([]byte(inv.Data.Events), &bodies); err != nil {
		t.Fatal(err)
	}
	want := []string{string(readTestdata(t, "eventhub-body-1.json")), string(readTestdata(t, "eventhub-body-2.json"))}
	if diff := cmp.Diff(want, bodies); diff != "" {
		t.Errorf("fixture bodies (-want +got):\n%s", diff)
	}
	for _, k := range []string{"PartitionKeyArray", "OffsetArray", "SequenceNumberArray", "EnqueuedTimeUtcArray", "PropertiesArray", "SystemPropertiesArray"} {
		var s string
		if err := json.Unmarshal(inv.Metadata[k], &s); err != nil || !strings.HasPrefix(s, "[") {
			t.Errorf("Metadata.%s = %s, want a string holding an array", k, inv.Metadata[k])
		}
	}
	var pc map[string]string
	if err := json.Unmarshal(inv.Metadata["PartitionContext"], &pc); err != nil || pc["PartitionId"] == "" {
		t.Errorf("Metadata.PartitionContext = %s, want an object", inv.Metadata["PartitionContext"])
	}
}

func TestActivityLogIngestFailure(t *testing.T) {
	ing := &fakeIngester{ingestErr: func(i int) error {
		if i == 1 {
			return errStoreDown
		}
		return nil
	}}
	h, logs := newTestHandler(t, ing, nil)
	w := do(h, hostRequest(http.MethodPost, "/activitylog", readTestdata(t, "activitylog-poison.json")))
	checkError(t, w, http.StatusInternalServerError)
	if got := len(ing.bodies()); got != 3 {
		t.Errorf("Ingest called %d times, want 3: every body is tried even after a failure", got)
	}
	if !strings.Contains(logs.String(), "ingest failed") {
		t.Errorf("log has no ingest failure:\n%s", logs)
	}
}

func TestActivityLogCancelled(t *testing.T) {
	ing := &fakeIngester{}
	h, _ := newTestHandler(t, ing, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := hostRequest(http.MethodPost, "/activitylog", readTestdata(t, "activitylog-batch.json")).WithContext(ctx)
	checkError(t, do(h, r), http.StatusInternalServerError)
	if got := len(ing.bodies()); got != 0 {
		t.Errorf("Ingest called %d times after the host gave up, want 0", got)
	}
}

func TestResourceEvents(t *testing.T) {
	rawEvent := func(t *testing.T, fixture string) string {
		var inv struct{ Data map[string]json.RawMessage }
		if err := json.Unmarshal(readTestdata(t, fixture), &inv); err != nil {
			t.Fatal(err)
		}
		return string(inv.Data["event"])
	}
	egEvent := rawEvent(t, "resourceevents-eventgrid.json")
	ceEvent := rawEvent(t, "resourceevents-cloudevent.json")

	tests := []struct {
		name    string
		req     []byte
		want    string
		wantLog string
	}{
		{name: "Event Grid schema object", req: readTestdata(t, "resourceevents-eventgrid.json"), want: egEvent, wantLog: "resourceevents: 2 changes"},
		{name: "CloudEvents schema object", req: readTestdata(t, "resourceevents-cloudevent.json"), want: ceEvent},
		{name: "a JSON string holding the event (admin invoke)", req: envelope("event", egEvent), want: egEvent},
		{name: "the event encoded twice", req: envelope("event", jsonString(ceEvent)), want: ceEvent},
		{name: "an array of events", req: []byte(`{"Data":{"event":[` + egEvent + `]}}`), want: "[" + egEvent + "]"},
		{name: "not JSON: passed on for the pipeline to keep", req: envelope("event", "hello"), want: "hello", wantLog: "not a JSON event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{summary: guard.Summary{Changes: 2, Verdicts: 1}}
			h, _ := newTestHandler(t, ing, nil)
			a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/resourceevents", tt.req)))
			if diff := cmp.Diff([]string{tt.want}, ing.bodies()); diff != "" {
				t.Errorf("events that reached Ingest (-want +got):\n%s", diff)
			}
			if c := ing.ingested[0]; c.src != guard.SourceEventGrid || !c.now.Equal(fixedNow) {
				t.Errorf("Ingest(%q, …, %v), want (%q, …, %v)", c.src, c.now, guard.SourceEventGrid, fixedNow)
			}
			if tt.wantLog != "" && !slices.ContainsFunc(a.Logs, func(l string) bool { return strings.Contains(l, tt.wantLog) }) {
				t.Errorf("Logs = %q, want a line containing %q", a.Logs, tt.wantLog)
			}
		})
	}

	t.Run("Ingest fails", func(t *testing.T) {
		ing := &fakeIngester{ingestErr: func(int) error { return errStoreDown }}
		h, _ := newTestHandler(t, ing, nil)
		checkError(t, do(h, hostRequest(http.MethodPost, "/resourceevents", readTestdata(t, "resourceevents-eventgrid.json"))), http.StatusInternalServerError)
	})
}

func TestSweep(t *testing.T) {
	pastDue := bytes.Replace(readTestdata(t, "sweep-timer.json"), []byte(`"IsPastDue":false`), []byte(`"IsPastDue":true`), 1)
	tests := []struct {
		name    string
		req     []byte
		wantLog string
	}{
		{name: "timer tick", req: readTestdata(t, "sweep-timer.json"), wantLog: "sweep: 0 changes, 0 duplicates, 0 skipped, 0 rejected, 0 ignored, 0 verdicts, 3 transitions"},
		{name: "past due", req: pastDue, wantLog: "(tick past due)"},
		{name: "no ScheduleStatus", req: []byte(`{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{}}`), wantLog: "sweep: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{summary: guard.Summary{Transitions: 3}}
			h, _ := newTestHandler(t, ing, nil)
			a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/sweep", tt.req)))
			if diff := cmp.Diff([]time.Time{fixedNow}, ing.sweeps); diff != "" {
				t.Errorf("Sweep calls (-want +got):\n%s", diff)
			}
			if len(ing.ingested) != 0 {
				t.Errorf("Ingest called on a timer tick")
			}
			if !slices.ContainsFunc(a.Logs, func(l string) bool { return strings.Contains(l, tt.wantLog) }) {
				t.Errorf("Logs = %q, want a line containing %q", a.Logs, tt.wantLog)
			}
		})
	}

	t.Run("Sweep fails", func(t *testing.T) {
		ing := &fakeIngester{sweepErr: errStoreDown}
		h, _ := newTestHandler(t, ing, nil)
		checkError(t, do(h, hostRequest(http.MethodPost, "/sweep", readTestdata(t, "sweep-timer.json"))), http.StatusInternalServerError)
	})
}

func TestHealth(t *testing.T) {
	notReady := func(context.Context) error { return errStoreDown }
	tests := []struct {
		name       string
		ready      func(context.Context) error
		wantStatus int
		wantBody   string
	}{
		{name: "no readiness check", wantStatus: 200, wantBody: "ok"},
		{name: "ready", ready: func(context.Context) error { return nil }, wantStatus: 200, wantBody: "ok"},
		{name: "store unreachable", ready: notReady, wantStatus: 503, wantBody: "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/invocation", func(t *testing.T) {
			h, _ := newTestHandler(t, &fakeIngester{}, func(o *Options) { o.Ready = tt.ready })
			a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/health", readTestdata(t, "health-req.json"))))
			var res struct {
				StatusCode int
				Headers    map[string]string
				Body       healthBody
			}
			if err := json.Unmarshal(a.Outputs["res"], &res); err != nil {
				t.Fatalf("Outputs.res = %s: %v", a.Outputs["res"], err)
			}
			if res.StatusCode != tt.wantStatus || res.Body.Status != tt.wantBody || res.Headers["Content-Type"] != "application/json" {
				t.Errorf("Outputs.res = %s, want statusCode %d, status %q, JSON content type", a.Outputs["res"], tt.wantStatus, tt.wantBody)
			}
			if strings.Contains(string(a.Outputs["res"]), "SECRETSIG") {
				t.Errorf("Outputs.res leaks the readiness error: %s", a.Outputs["res"])
			}
		})
		t.Run(tt.name+"/direct GET", func(t *testing.T) {
			h, _ := newTestHandler(t, &fakeIngester{}, func(o *Options) { o.Ready = tt.ready })
			body := checkJSON(t, do(h, httptest.NewRequest(http.MethodGet, "/health", nil)), tt.wantStatus)
			var got healthBody
			if err := json.Unmarshal(body, &got); err != nil || got.Status != tt.wantBody {
				t.Errorf("GET /health = %s, want status %q", body, tt.wantBody)
			}
			if strings.Contains(string(body), "SECRETSIG") {
				t.Errorf("GET /health leaks the readiness error: %s", body)
			}
		})
	}
}

func TestReadinessProbe(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			ing := &fakeIngester{}
			// A readiness check that never answers must not hold up the host's probe.
			h, _ := newTestHandler(t, ing, func(o *Options) {
				o.Ready = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
			})
			start := time.Now()
			w := do(h, httptest.NewRequest(method, "/", nil))
			if took := time.Since(start); took > time.Second {
				t.Errorf("GET / took %v", took)
			}
			if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s / = %d %q, want 200 application/json", method, w.Code, w.Header().Get("Content-Type"))
			}
			if method == http.MethodGet && !json.Valid(w.Body.Bytes()) {
				t.Errorf("GET / body %q is not JSON", w.Body)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	big := readTestdata(t, "activitylog-batch.json")
	tests := []struct {
		name       string
		req        func() *http.Request
		max        int64
		wantStatus int
		wantAllow  string
	}{
		{name: "unknown function", req: func() *http.Request { return hostRequest(http.MethodPost, "/nosuch", []byte(`{"Data":{}}`)) }, wantStatus: 404},
		{name: "function name with a suffix", req: func() *http.Request { return hostRequest(http.MethodPost, "/activitylog/x", big) }, wantStatus: 404},
		{name: "GET on a function", req: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/activitylog", nil) }, wantStatus: 405, wantAllow: "POST"},
		{name: "PUT on health", req: func() *http.Request { return httptest.NewRequest(http.MethodPut, "/health", nil) }, wantStatus: 405, wantAllow: "GET, HEAD, POST"},
		{name: "POST on the probe", req: func() *http.Request { return hostRequest(http.MethodPost, "/", nil) }, wantStatus: 405, wantAllow: "GET, HEAD"},
		{name: "body over the limit", max: 1024, req: func() *http.Request { return hostRequest(http.MethodPost, "/activitylog", big) }, wantStatus: 413},
		{name: "body over the limit, length unknown", max: 1024, req: func() *http.Request {
			r := hostRequest(http.MethodPost, "/activitylog", big)
			r.ContentLength = -1
			r.Body = io.NopCloser(bytes.NewReader(big))
			return r
		}, wantStatus: 413},
		{name: "malformed JSON", req: func() *http.Request { return hostRequest(http.MethodPost, "/activitylog", big[:len(big)/2]) }, wantStatus: 400},
		{name: "empty body", req: func() *http.Request { return hostRequest(http.MethodPost, "/sweep", nil) }, wantStatus: 400},
		{name: "envelope not an object", req: func() *http.Request { return hostRequest(http.MethodPost, "/resourceevents", []byte(`[{"Data":{}}]`)) }, wantStatus: 400},
		{name: "Data not an object", req: func() *http.Request { return hostRequest(http.MethodPost, "/resourceevents", []byte(`{"Data":"{}"}`)) }, wantStatus: 400},
		{name: "trailing garbage", req: func() *http.Request { return hostRequest(http.MethodPost, "/sweep", []byte(`{"Data":{}} {}`)) }, wantStatus: 400},
		{name: "no Data.events", req: func() *http.Request {
			return hostRequest(http.MethodPost, "/activitylog", []byte(`{"Data":{"event":"[]"}}`))
		}, wantStatus: 400},
		{name: "Data.events null", req: func() *http.Request {
			return hostRequest(http.MethodPost, "/activitylog", []byte(`{"Data":{"events":null}}`))
		}, wantStatus: 400},
		{name: "no Data.event", req: func() *http.Request {
			return hostRequest(http.MethodPost, "/resourceevents", []byte(`{"Metadata":{}}`))
		}, wantStatus: 400},
		{name: "no Data.req", req: func() *http.Request { return hostRequest(http.MethodPost, "/health", []byte(`{"Data":{}}`)) }, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{}
			h, _ := newTestHandler(t, ing, func(o *Options) { o.MaxBodyBytes = tt.max })
			w := do(h, tt.req())
			checkError(t, w, tt.wantStatus)
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if len(ing.ingested)+len(ing.sweeps) != 0 {
				t.Errorf("the pipeline ran on a refused request")
			}
		})
	}
}

func TestPanicIsContained(t *testing.T) {
	h, logs := newTestHandler(t, &fakeIngester{panicking: true}, nil)
	checkError(t, do(h, hostRequest(http.MethodPost, "/resourceevents", readTestdata(t, "resourceevents-eventgrid.json"))), http.StatusInternalServerError)
	if !strings.Contains(logs.String(), "pipeline bug") {
		t.Errorf("the panic was not logged:\n%s", logs)
	}
}

// TestLogs checks the structured log line of an invocation: function, invocation
// ID and summary, and never a byte of the bodies.
func TestLogs(t *testing.T) {
	ing := &fakeIngester{summary: guard.Summary{Changes: 1, Rejected: 1}}
	h, logs := newTestHandler(t, ing, nil)
	checkAnswer(t, do(h, hostRequest(http.MethodPost, "/activitylog", readTestdata(t, "activitylog-poison.json"))))

	var done map[string]any
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "invocation done" {
			done = rec
		}
	}
	want := map[string]any{
		"function":     "activitylog",
		"invocationId": "3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d",
		"partition":    "3",
		"retryCount":   float64(2),
		"bodies":       float64(3),
		"failed":       float64(0),
		"summary": map[string]any{"changes": float64(3), "duplicates": float64(0), "skipped": float64(0),
			"rejected": float64(3), "ignored": float64(0), "verdicts": float64(0), "transitions": float64(0)},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, done[k]); diff != "" {
			t.Errorf("log %q (-want +got):\n%s", k, diff)
		}
	}
	for _, secret := range []string{"zoe.ferreira", "Zoë", "records", "roleAssignments"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log carries body content %q:\n%s", secret, logs)
		}
	}
}

func TestNewHandlerDefaults(t *testing.T) {
	ing := &fakeIngester{}
	h := NewHandler(Options{Ingester: ing, Logger: slog.New(slog.DiscardHandler)})
	before := time.Now()
	checkAnswer(t, do(h, hostRequest(http.MethodPost, "/sweep", readTestdata(t, "sweep-timer.json"))))
	if got := ing.sweeps[0]; got.Before(before) || time.Since(got) > time.Minute {
		t.Errorf("Sweep at %v, want the wall clock", got)
	}
	if got := h.(*handler).max; got != BodyLimit(8) {
		t.Errorf("MaxBodyBytes default = %d, want BodyLimit(8) = %d", got, BodyLimit(8))
	}

	defer func() {
		if recover() == nil {
			t.Errorf("NewHandler without an Ingester did not panic")
		}
	}()
	NewHandler(Options{})
}

// batchIngester is a fakeIngester that takes a batch's bodies in one call,
// as the pipeline does.
type batchIngester struct {
	fakeIngester
	calls    [][]string
	batchErr error
}

func (b *batchIngester) IngestAll(ctx context.Context, src guard.Source, bodies [][]byte, now time.Time) (guard.Summary, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var call []string
	for _, body := range bodies {
		call = append(call, string(body))
	}
	b.calls = append(b.calls, call)
	return b.summary, b.batchErr
}

// A pipeline that takes batches whole gets every body of the host's batch in
// one call, the unreadable one too, and a failure fails the invocation.
func TestActivityLogBatchIngester(t *testing.T) {
	body1 := string(readTestdata(t, "eventhub-body-1.json"))
	body2 := string(readTestdata(t, "eventhub-body-2.json"))
	body3 := string(readTestdata(t, "eventhub-body-3-truncated.json"))

	ing := &batchIngester{fakeIngester: fakeIngester{summary: guard.Summary{Changes: 3}}}
	h, _ := newTestHandler(t, ing, nil)
	w := do(h, hostRequest(http.MethodPost, "/activitylog", readTestdata(t, "activitylog-poison.json")))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	if len(ing.calls) != 1 || !slices.Equal(ing.calls[0], []string{body1, body3, body2}) {
		t.Errorf("IngestAll calls: %d, want one with the 3 bodies in order", len(ing.calls))
	}
	if got := len(ing.bodies()); got != 0 {
		t.Errorf("Ingest called %d times beside IngestAll", got)
	}
	if !strings.Contains(w.Body.String(), "3 message bodies: 3 changes") {
		t.Errorf("Logs do not give the batch's summary: %s", w.Body)
	}

	failing := &batchIngester{batchErr: errStoreDown}
	h, logs := newTestHandler(t, failing, nil)
	checkError(t, do(h, hostRequest(http.MethodPost, "/activitylog", readTestdata(t, "activitylog-batch.json"))), http.StatusInternalServerError)
	if !strings.Contains(logs.String(), "ingest failed") {
		t.Errorf("log has no ingest failure:\n%s", logs)
	}
}

// TestDeliveredOnlyWhenTheOutboxMayHaveGrown: the delivery worker is poked
// after an invocation that moved a finding (its notifications and remediation
// are in the outbox), after a sweep, and not after one that moved nothing or a
// health check: asking a Cosmos DB store for due items is a query across
// partitions, which would otherwise cost every delivery a request.
func TestDeliveredOnlyWhenTheOutboxMayHaveGrown(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fn, body    string
		transitions int
		want        int
	}{
		{"event hub batch, nothing moved", fnActivityLog, "activitylog-batch.json", 0, 0},
		{"event hub batch, a finding moved", fnActivityLog, "activitylog-batch.json", 1, 1},
		{"event grid event, nothing moved", fnResourceEvents, "resourceevents-eventgrid.json", 0, 0},
		{"event grid event, a finding moved", fnResourceEvents, "resourceevents-eventgrid.json", 2, 1},
		{"sweep", fnSweep, "sweep-timer.json", 0, 1},
		{"health", fnHealth, "health-req.json", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ing := &fakeIngester{summary: guard.Summary{Transitions: tc.transitions}}
			var pokes int
			h, _ := newTestHandler(t, ing, func(o *Options) { o.Delivered = func() { pokes++ } })
			w := do(h, hostRequest(http.MethodPost, "/"+tc.fn, readTestdata(t, tc.body)))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if pokes != tc.want {
				t.Errorf("Delivered called %d times, want %d", pokes, tc.want)
			}
		})
	}
}
