package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// replay --via, against local HTTP servers only: one that answers as the
// Functions host's admin endpoint does (research note §5), and the real
// custom handler (pkg/functions) as exportguard serve runs it.

const viaSession = "testdata/sessions/storage-replication.ndjson"

// viaCallSeen is one invocation as the target saw it: the function, and the
// admin input or the text of what reached the pipeline.
type viaCallSeen struct {
	Function string
	Input    string
}

// expectedViaCalls reads a session independently of replay_via.go and says what
// must be sent for it, in order: an eventhub line's body as text, each event
// of an eventgrid line (an array is sent event by event), a sweep per clock
// line, nothing for arm lines.
func expectedViaCalls(t *testing.T, path string) []viaCallSeen {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []viaCallSeen
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, session.MaxLineBytes)
	for sc.Scan() {
		var l struct {
			Source string
			Body   json.RawMessage
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		switch l.Source {
		case "eventhub":
			out = append(out, viaCallSeen{"activitylog", string(l.Body)})
		case "eventgrid":
			var events []json.RawMessage
			if err := json.Unmarshal(l.Body, &events); err != nil {
				events = []json.RawMessage{l.Body}
			}
			for _, e := range events {
				out = append(out, viaCallSeen{"resourceevents", string(e)})
			}
		case "clock":
			out = append(out, viaCallSeen{"sweep", ""})
		}
	}
	return out
}

// fakeFunctionsHost answers as `func start` does: GET /admin/host/status with
// the host's state, POST /admin/functions/{name} with {"input": "<string>"}
// answered 202 and nothing else. answer, when set, picks another status for a
// call (by its index).
type fakeFunctionsHost struct {
	t      *testing.T
	mu     sync.Mutex
	calls  []viaCallSeen
	keys   []string
	answer func(i int, function string) int
}

func (h *fakeFunctionsHost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.keys = append(h.keys, r.Header.Get("x-functions-key"))
	h.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/admin/host/status":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, `{"id":"laptop-1234","state":"Running","version":"4.1037.0.23568","versionDetails":"4.1037.0","platformVersion":"","instanceId":"","computerName":"","processUptime":5124,"functionAppContentEditingState":"Unknown"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/":
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html><body>Your Functions 4.0 app is up and running</body></html>")
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/admin/functions/"):
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			h.t.Errorf("admin invoke Content-Type %q, want application/json", ct)
		}
		var body struct {
			Input *string `json:"input"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Input == nil {
			h.t.Errorf("admin invoke body is not {\"input\": \"<string>\"}: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/admin/functions/")
		h.mu.Lock()
		i := len(h.calls)
		h.calls = append(h.calls, viaCallSeen{name, *body.Input})
		h.mu.Unlock()
		status := http.StatusAccepted
		if h.answer != nil {
			status = h.answer(i, name)
		}
		if status == -1 { // the host goes away mid-session
			panic(http.ErrAbortHandler)
		}
		w.WriteHeader(status)
		if status == http.StatusNotFound {
			io.WriteString(w, `{"message":"function not found"}`)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestReplayViaFunctionsHost(t *testing.T) {
	t.Parallel()
	host := &fakeFunctionsHost{t: t}
	srv := httptest.NewServer(host)
	defer srv.Close()

	stdout, stderr, err := run(t, "replay", "--via", srv.URL+"/", viaSession)
	if err != nil {
		t.Fatalf("replay --via: %v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing: the findings are in the app's store", stdout)
	}
	want := expectedViaCalls(t, viaSession)
	if diff := cmp.Diff(want, host.calls); diff != "" {
		t.Errorf("admin invocations, in order (-want +got):\n%s", diff)
	}
	// The session's 5 eventhub lines, 2 eventgrid lines (one an array of one
	// event) and 3 clock lines were sent; its 4 arm lines counted.
	for _, s := range []string{
		"sent 10 invocation(s) to the Functions host at " + srv.URL,
		"5 activitylog, 2 resourceevents (2 Event Grid event(s)), 3 sweep; 0 failed",
		"4 arm line(s) not sent",
		"the host runs admin invocations in the background",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	for _, k := range host.keys {
		if k != "" {
			t.Errorf("a key was sent with none set: %q", k)
		}
	}
}

func TestReplayViaFunctionsHostRefusals(t *testing.T) {
	t.Parallel()
	// A function the host does not know (404), and one it fails (500): each is
	// reported with its line number; the other lines are still sent, in order.
	host := &fakeFunctionsHost{t: t, answer: func(i int, name string) int {
		switch {
		case name == "sweep":
			return http.StatusNotFound
		case i == 2:
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	}}
	srv := httptest.NewServer(host)
	defer srv.Close()
	_, stderr, err := run(t, "replay", "--via", srv.URL, viaSession)
	if err == nil || !strings.Contains(err.Error(), "4 of 10 invocation(s) failed") {
		t.Errorf("err = %v, want 4 of 10 failed", err)
	}
	for _, s := range []string{
		viaSession + ":2: sweep: POST /admin/functions/sweep answered 404 Not Found: function not found",
		viaSession + ":5: resourceevents: POST /admin/functions/resourceevents answered 500 Internal Server Error",
		viaSession + ":8: sweep: POST /admin/functions/sweep answered 404",
		viaSession + ":14: sweep: POST /admin/functions/sweep answered 404",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	if len(host.calls) != 10 {
		t.Errorf("%d invocations sent, want all 10", len(host.calls))
	}
}

func TestReplayViaHostGoneMidSession(t *testing.T) {
	t.Parallel()
	host := &fakeFunctionsHost{t: t, answer: func(i int, _ string) int {
		if i == 3 {
			return -1
		}
		return http.StatusAccepted
	}}
	srv := httptest.NewServer(host)
	defer srv.Close()
	_, stderr, err := run(t, "replay", "--via", srv.URL, viaSession)
	if err == nil || !strings.Contains(err.Error(), viaSession+":6: activitylog: the target did not answer") {
		t.Errorf("err = %v, want the line where the target stopped answering", err)
	}
	if !strings.Contains(stderr, "stopped after sent 4 invocation(s)") {
		t.Errorf("stderr: %s", stderr)
	}
	host.mu.Lock()
	calls := len(host.calls)
	host.mu.Unlock()
	if calls != 4 {
		t.Errorf("%d invocations reached the host, want 4: nothing after the one it dropped", calls)
	}
}

func TestReplayViaMasterKey(t *testing.T) {
	const key = "MASTERKEY-5ecret-value"
	t.Parallel()
	env := map[string]string{envFunctionsKey: key}
	app := envApp(env)
	host := &fakeFunctionsHost{t: t}
	srv := httptest.NewServer(host)
	defer srv.Close()
	stdout, stderr, err := runApp(t, app, "replay", "--via", srv.URL, viaSession)
	if err != nil {
		t.Fatal(err, stderr)
	}
	if len(host.keys) != 11 {
		t.Fatalf("%d requests, want the status probe and 10 invocations", len(host.keys))
	}
	for i, k := range host.keys {
		if k != key {
			t.Errorf("request %d: x-functions-key %q, want the key", i, k)
		}
	}
	if strings.Contains(stdout+stderr, key) {
		t.Error("the key was printed")
	}

	// Not over plain http to anything but loopback (nothing is sent: refused first).
	_, _, err = runApp(t, app, "replay", "--via", "http://func-exportguard.example.invalid", viaSession)
	if err == nil || !strings.Contains(err.Error(), "https") || strings.Contains(err.Error(), key) {
		t.Errorf("err = %v, want a refusal naming https and not the key", err)
	}
	// A host that wants a key it was not given says so.
	env[envFunctionsKey] = ""
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer locked.Close()
	_, _, err = runApp(t, app, "replay", "--via", locked.URL, viaSession)
	if err == nil || !strings.Contains(err.Error(), envFunctionsKey) {
		t.Errorf("err = %v, want one naming %s", err, envFunctionsKey)
	}
}

func TestReplayViaRefusals(t *testing.T) {
	t.Parallel()
	nothing := httptest.NewServer(http.NotFoundHandler())
	defer nothing.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither a host nor serve", []string{"--via", nothing.URL, viaSession}, "neither a Functions host"},
		{"nobody listening", []string{"--via", gone.URL, viaSession}, "--via " + gone.URL},
		{"not http", []string{"--via", "ftp://127.0.0.1:21", viaSession}, "want http://HOST:PORT"},
		{"a key in the URL", []string{"--via", "http://127.0.0.1:7071/?code=abc", viaSession}, envFunctionsKey},
		// The running app uses its own store and policy: cobra refuses these.
		{"with --store", []string{"--via", nothing.URL, "--store", "memory:", viaSession}, "if any flags in the group [via store] are set none of the others can be; [store via] were all set"},
		{"with --policy", []string{"--via", nothing.URL, "--policy", "p.yaml", viaSession}, "if any flags in the group [via policy] are set none of the others can be; [policy via] were all set"},
		{"with --format", []string{"--via", nothing.URL, "--format", "json", viaSession}, "if any flags in the group [via format] are set none of the others can be; [format via] were all set"},
		{"with --to-eventhub", []string{"--via", nothing.URL, "--to-eventhub", "ns/hub", viaSession}, "if any flags in the group [via to-eventhub] are set none of the others can be; [to-eventhub via] were all set"},
		{"a session that is not there", []string{"--via", nothing.URL, "testdata/sessions/none.ndjson"}, "none.ndjson"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, append([]string{"replay"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestReplayViaMalformedLines(t *testing.T) {
	t.Parallel()
	host := &fakeFunctionsHost{t: t}
	srv := httptest.NewServer(host)
	defer srv.Close()
	_, stderr, err := run(t, "replay", "--via", srv.URL, "testdata/sessions/malformed-lines.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"malformed-lines.ndjson:2: ", "malformed-lines.ndjson:3: ", "line skipped", "2 malformed line(s)",
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	// What is well-formed goes, bad content and all: the app keeps it as poison.
	want := []viaCallSeen{{"activitylog", ""}, {"resourceevents", "not an event"}, {"sweep", ""}}
	if len(host.calls) != 3 || host.calls[1] != want[1] || host.calls[2] != want[2] || host.calls[0].Function != "activitylog" {
		t.Errorf("calls = %q", host.calls)
	}
}

// recordingIngester is the pipeline behind a real handler: it keeps what the
// handler decoded from each invocation.
type recordingIngester struct {
	mu      sync.Mutex
	calls   []viaCallSeen
	failAt  int // the 1-based Ingest call that fails; 0 for none
	ingests int
}

func (r *recordingIngester) Ingest(_ context.Context, src guard.Source, body []byte, _ time.Time) (guard.Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn := map[guard.Source]string{guard.SourceEventHub: "activitylog", guard.SourceEventGrid: "resourceevents"}[src]
	r.calls = append(r.calls, viaCallSeen{fn, string(body)})
	r.ingests++
	if r.ingests == r.failAt {
		return guard.Summary{}, errViaTestStore
	}
	return guard.Summary{Changes: 1}, nil
}

func (r *recordingIngester) Sweep(context.Context, time.Time) (guard.Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, viaCallSeen{"sweep", ""})
	return guard.Summary{}, nil
}

var errViaTestStore = io.ErrUnexpectedEOF

func TestReplayViaServe(t *testing.T) {
	t.Parallel()
	ing := &recordingIngester{}
	var invocations []string
	var mu sync.Mutex
	h := functions.NewHandler(functions.Options{Ingester: ing, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			mu.Lock()
			invocations = append(invocations, r.URL.Path+" "+r.Header.Get("X-Azure-Functions-InvocationId"))
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	stdout, stderr, err := run(t, "replay", "--via", srv.URL, viaSession)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q", stdout)
	}
	// The handler decoded every host-shaped invocation back to exactly what
	// the session holds, in order.
	want := expectedViaCalls(t, viaSession)
	for i := range want {
		if want[i].Function != "sweep" {
			var v any // compare JSON text without its spacing
			if json.Unmarshal([]byte(want[i].Input), &v) == nil {
				b, _ := json.Marshal(v)
				want[i].Input = string(b)
			}
		}
	}
	got := append([]viaCallSeen(nil), ing.calls...)
	for i := range got {
		var v any
		if json.Unmarshal([]byte(got[i].Input), &v) == nil {
			b, _ := json.Marshal(v)
			got[i].Input = string(b)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("what reached the pipeline, in order (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, "sent 10 invocation(s) to exportguard serve") || strings.Contains(stderr, "background") {
		t.Errorf("stderr: %s", stderr)
	}
	seen := map[string]bool{}
	for _, inv := range invocations {
		path, id, _ := strings.Cut(inv, " ")
		if len(id) != 36 || seen[id] {
			t.Errorf("POST %s with invocation ID %q: want a fresh UUID each", path, id)
		}
		seen[id] = true
	}
}

func TestReplayViaServeFailure(t *testing.T) {
	t.Parallel()
	ing := &recordingIngester{failAt: 2} // the second eventhub message
	h := functions.NewHandler(functions.Options{Ingester: ing, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, stderr, err := run(t, "replay", "--via", srv.URL, viaSession)
	if err == nil || !strings.Contains(err.Error(), "1 of 10 invocation(s) failed") {
		t.Errorf("err = %v", err)
	}
	if !strings.Contains(stderr, viaSession+":5: resourceevents: POST /resourceevents answered 500 Internal Server Error: resourceevents: the pipeline could not finish") {
		t.Errorf("stderr: %s", stderr)
	}
	if len(ing.calls) != 10 {
		t.Errorf("%d calls reached the pipeline, want all 10", len(ing.calls))
	}
}

// TestReplayViaServePipeline: through the real pipeline behind the handler,
// as serve wires it (ARM answered here from the session's last known states,
// since the live app reads ARM itself), the events leave findings in the
// app's store, and input it cannot read is kept as poison and reported.
func TestReplayViaServePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/via.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	arm := replay.NewARM(func() time.Time { return time.Now().Add(24 * time.Hour) })
	for _, l := range sessionLines(t, session.SourceARM) {
		arm.Observe(l)
	}
	pl, err := testApp().newPipeline(st, arm, policyfile.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(functions.NewHandler(functions.Options{Ingester: pl, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()

	if _, stderr, err := run(t, "replay", "--via", srv.URL, viaSession); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	fs, err := st.ListFindings(ctx, guard.FindingFilter{Status: guard.StatusOpen, Rule: guard.RuleResidencyReplication})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || !strings.HasSuffix(fs[0].ResourceID, "/eudrbackup") {
		t.Errorf("open residency.replication findings = %+v, want eudrbackup's residency.replication (ARM here says partnerxfer is already fixed)", fs)
	}

	_, stderr, err := run(t, "replay", "--via", srv.URL, "testdata/sessions/malformed-lines.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "malformed-lines.ndjson:4: the app kept input it could not read as poison") ||
		!strings.Contains(stderr, "malformed-lines.ndjson:5: the app kept input it could not read as poison") {
		t.Errorf("stderr: %s", stderr)
	}
	poison, err := st.ListPoison(ctx)
	if err != nil || len(poison) < 2 {
		t.Errorf("poison = %d records (%v), want the bad record and the event that is not one", len(poison), err)
	}
}
