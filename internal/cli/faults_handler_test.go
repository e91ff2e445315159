package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// faultHandler is the custom handler as serve runs it (the real pipeline and
// its findings API over a SQLite file, functions.ListenAndServe with its
// timeouts and header limit) on a loopback port, with a small body limit.
type faultHandler struct {
	t     *testing.T
	url   string
	store guard.Store
	logs  *notifytest.SyncBuffer
	max   int64
}

func startFaultHandler(t *testing.T, max int64) *faultHandler {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "handler.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 2, 10, 31, 48, 0, time.UTC)
	arm := replay.NewARM(func() time.Time { return now })
	for _, l := range sessionLines(t, session.SourceARM) {
		if !strings.Contains(string(l.Body), "Standard_LRS") { // the state before the fix
			arm.Observe(l)
		}
	}
	logs := &notifytest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pl, err := testApp().newPipeline(st, arm, policyfile.Default(), log)
	if err != nil {
		t.Fatal(err)
	}
	h := functions.NewHandler(functions.Options{
		Ingester: testApp().servedIngester(pl, st),
		Ready: func(ctx context.Context) error {
			_, err := st.Processed(ctx, "~readiness", "readiness-probe")
			return err
		},
		Now:          func() time.Time { return now },
		Logger:       log,
		MaxBodyBytes: max,
	})
	url := serveOnLoopback(t, h, log)
	fh := &faultHandler{t: t, url: url, store: st, logs: logs, max: max}
	return fh
}

// answer is what the handler said to one request.
type answer struct {
	status int
	ctype  string
	body   []byte
}

func (fh *faultHandler) do(req *http.Request) answer {
	fh.t.Helper()
	req.Header.Set("X-Azure-Functions-InvocationId", "0f5a7d1c-hostile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fh.t.Fatalf("%s %s: no answer: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), b}
}

func (fh *faultHandler) post(fn string, body []byte) answer {
	fh.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fh.url+"/"+fn, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return fh.do(req)
}

// up checks that the handler still answers the host's readiness probe and
// the health check (its store still reachable).
func (fh *faultHandler) up(after string) {
	fh.t.Helper()
	for _, path := range []string{"/", "/health"} {
		req, _ := http.NewRequest(http.MethodGet, fh.url+path, nil)
		a := fh.do(req)
		if a.status != http.StatusOK || !strings.HasPrefix(a.ctype, "application/json") {
			fh.t.Fatalf("after %s: GET %s answered %d %s %s", after, path, a.status, a.ctype, a.body)
		}
	}
}

func (fh *faultHandler) poison() []guard.PoisonRecord {
	fh.t.Helper()
	ps, err := fh.store.ListPoison(context.Background())
	if err != nil {
		fh.t.Fatal(err)
	}
	return ps
}

// invocation wraps Data.events as the host does for cardinality many and
// dataType string: a JSON string holding a JSON array of the message bodies,
// encoded once more (hostActivityLogInvocation), with layers more or fewer.
func invocation(t *testing.T, bodies []string, layers int) []byte {
	t.Helper()
	v, _ := json.Marshal(bodies)
	for range layers {
		v, _ = json.Marshal(string(v))
	}
	return []byte(`{"Data":{"events":` + string(v) + `},"Metadata":{"sys":{"MethodName":"activitylog"}}}`)
}

func nested(open, close string, depth int) string {
	return strings.Repeat(open, depth) + strings.Repeat(close, depth)
}

func utf16LE(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

// TestFaultHandlerHostileBodies sends the custom handler, over a real loopback
// connection, bodies a host would never send and a few it might: too large,
// cut short, in the wrong encoding, encoded too often, nested too deep, with
// numbers no type holds, with NUL bytes; and one batch that mixes good message
// bodies with hostile ones. Each gets a clear answer (a JSON error for a
// request that is not an invocation, 200 with Logs for an invocation whose
// messages the pipeline keeps as poison), never a 500 and never a panic; the
// handler stays up (its readiness probe and health check answer after each);
// and the good records in the mixed batch open their findings.
func TestFaultHandlerHostileBodies(t *testing.T) {
	t.Parallel()
	const max = 1 << 20
	fh := startFaultHandler(t, max)
	var good []string
	for _, l := range sessionLines(t, session.SourceEventHub) {
		good = append(good, string(l.Body))
	}
	okBody := invocation(t, good[:1], 2)
	rec := func(fields string) string {
		return `{"records":[{"time":"2026-11-02T09:19:58.1034512Z","resourceId":"/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-x/providers/Microsoft.Storage/storageAccounts/hostile",` +
			`"operationName":"Microsoft.Storage/storageAccounts/write","category":"Administrative","resultType":"Success","correlationId":"c0ffee00-0000-4000-8000-000000000001"` + fields + `}]}`
	}
	// Hostile message bodies, and whether the pipeline keeps each as poison
	// (else it reads a record from it: garbage in a field no rule reads, or
	// in a string, is no reason to drop the record).
	hostile := []struct {
		name     string
		body     string
		poisoned bool
	}{
		{"truncated message", good[0][:len(good[0])/2], true},
		{"UTF-16 message", string(utf16LE(good[0])), true},
		{"base64 message", base64.StdEncoding.EncodeToString([]byte(good[0])), true},
		{"message encoded five times", string(must(json.Marshal(string(must(json.Marshal(string(must(json.Marshal(string(must(json.Marshal(good[0])))))))))))), true},
		{"deeply nested message", `{"records":[` + nested("[", "]", 20000) + `]}`, true},
		{"NUL bytes", "{\"records\":[{\"time\":\"2026-11-02T09:19:58Z\x00\",\"resourceId\":\"/subscriptions/\x00\x00\"}]}", true},
		{"a number", "42", true},
		{"nothing", "", true},
		{"records not an array", `{"records":{"time":"2026-11-02T09:19:58Z"}}`, true},
		{"huge numbers", rec(`,"durationMs":1e999999,"level":123456789012345678901234567890`), false},
		{"escaped NUL in the resource ID", strings.Replace(rec(""), "/hostile", "/host\\u0000ile", 1), true}, // a control character: DESIGN 3.6
		{"Latin-1 bytes", rec(`,"caller":"Jos` + "\xe9" + ` Mu` + "\xf1" + `oz"`), false},
	}

	type tc struct {
		name   string
		fn     string
		body   []byte
		status int
		says   string // in the error (non-200) or in the Logs (200)
	}
	cases := []tc{
		{"over the body limit", "activitylog", append(invocation(t, good, 2), bytes.Repeat([]byte(" "), max)...), 413, fmt.Sprintf("request body over the %d-byte limit", max)},
		{"truncated envelope", "activitylog", okBody[:len(okBody)/2], 400, "not a JSON invocation envelope"},
		{"empty body", "activitylog", nil, 400, "not a JSON invocation envelope"},
		{"UTF-16 envelope", "activitylog", utf16LE(string(okBody)), 400, "not a JSON invocation envelope"},
		{"envelope with a BOM", "activitylog", append([]byte("\xef\xbb\xbf"), okBody...), 400, "not a JSON invocation envelope"},
		{"Latin-1 envelope", "activitylog", []byte(`{"Data":{"events":["{\"records\":[]}"]},"Metadata":{"caller":"Jos` + "\xe9" + `"}}`), 200, "1 message bodies"},
		{"NUL byte in the envelope", "activitylog", bytes.Replace(okBody, []byte(`"Data"`), []byte("\"Da\x00ta\""), 1), 400, "not a JSON invocation envelope"},
		{"envelope nested 100000 deep", "activitylog", []byte(`{"Data":{"events":` + nested("[", "]", 100000) + `}}`), 400, "not a JSON invocation envelope"},
		{"Data not an object", "activitylog", []byte(`{"Data":[1,2,3]}`), 400, "not a JSON invocation envelope"},
		{"no Data.events", "activitylog", []byte(`{"Data":{"event":{}}}`), 400, "the invocation has no Data.events"},
		{"huge number in Metadata", "activitylog", []byte(`{"Data":{"events":[]},"Metadata":{"RetryContext":{"RetryCount":1e999999}}}`), 200, "0 message bodies"},
		{"base64 Data.events", "activitylog", []byte(`{"Data":{"events":"` + base64.StdEncoding.EncodeToString(invocation(t, good[:1], 0)) + `"}}`), 200, "passed whole to the pipeline"},
		{"Data.events triple-encoded", "activitylog", invocation(t, good[:1], 3), 200, "1 message bodies"},
		{"Data.events encoded five times", "activitylog", invocation(t, good[:1], 5), 200, "passed whole to the pipeline"},
		{"Data.events a number", "activitylog", []byte(`{"Data":{"events":1e999999}}`), 200, "passed whole to the pipeline"},
		{"Event Grid event a string of NULs", "resourceevents", []byte("{\"Data\":{\"event\":\"\\u0000\\u0000\"}}"), 200, "not a JSON event"},
		{"Event Grid batch nested deep", "resourceevents", []byte(`{"Data":{"event":` + nested("[", "]", 5000) + `}}`), 200, "resourceevents:"},
		{"api request not an object", "api", []byte(`{"Data":{"req":"\u0000"}}`), 400, "Data.req is not an HTTP request object"},
		{"timer with a huge number", "sweep", []byte(`{"Data":{"timer":{"IsPastDue":1e999999}}}`), 200, "sweep:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := fh.post(c.fn, c.body)
			checkAnswer(t, a, c.status, c.says)
			fh.up(c.name)
		})
	}

	t.Run("oversized and streamed, with no length", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write(okBody[:len(okBody)-2])
			for i := 0; i < 2*max/4096; i++ {
				if _, err := pw.Write(bytes.Repeat([]byte(" "), 4096)); err != nil {
					break
				}
			}
			pw.Close()
		}()
		req, _ := http.NewRequest(http.MethodPost, fh.url+"/activitylog", pr)
		req.ContentLength = -1 // chunked
		checkAnswer(t, fh.do(req), 413, "over the")
		fh.up("a streamed oversized body")
	})
	t.Run("headers over the limit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, fh.url+"/activitylog", bytes.NewReader(okBody))
		req.Header.Set("X-Padding", strings.Repeat("x", 2<<20))
		a := fh.do(req)
		if a.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431 (net/http answers it, in plain text)", a.status)
		}
		fh.up("oversized headers")
	})
	t.Run("wrong method and path", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, fh.url+"/activitylog", nil)
		checkAnswer(t, fh.do(req), 405, "method not allowed")
		checkAnswer(t, fh.post("../../etc/passwd", okBody), 404, "no function here")
		fh.up("a wrong method and path")
	})

	// One batch: the sample session's good messages, every hostile message
	// body between them. The good records open their findings; each hostile
	// body is kept as poison with its reason; the answer is 200 (the batch is
	// not failed, so the host does not deliver it again and again).
	t.Run("good and hostile in one batch", func(t *testing.T) {
		before := len(fh.poison())
		var batch []string
		poisoned := 0
		for i, h := range hostile {
			if i < len(good) {
				batch = append(batch, good[i])
			}
			batch = append(batch, h.body)
			if h.poisoned {
				poisoned++
			}
		}
		batch = append(batch, good[min(len(hostile), len(good)):]...)
		a := fh.post("activitylog", invocation(t, batch, 2))
		checkAnswer(t, a, 200, fmt.Sprintf("%d message bodies", len(batch)))
		fh.up("the mixed batch")

		fs, err := fh.store.ListFindings(context.Background(), guard.FindingFilter{Rule: guard.RuleResidencyReplication})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, string(f.Status)+" "+lastSeg(f.ResourceID))
		}
		if want := "open eudrbackup,open partnerxfer"; strings.Join(got, ",") != want {
			t.Errorf("findings from the good records: %v, want %s", got, want)
		}
		kept := fh.poison()[before:]
		if len(kept) != poisoned {
			t.Errorf("%d poison records for the %d hostile bodies no record can be read from", len(kept), poisoned)
		}
		for _, p := range kept {
			if p.Reason == "" || p.Source != string(guard.SourceEventHub) {
				t.Errorf("poison record without a reason: %+v", p)
			}
			t.Logf("kept as poison: %.120s", p.Reason)
		}
		var out struct{ Logs []string }
		json.Unmarshal(a.body, &out)
		t.Logf("Logs: %q", out.Logs)
		if want := fmt.Sprintf("%d rejected", poisoned); !strings.Contains(strings.Join(out.Logs, " "), want) {
			t.Errorf("Logs do not say %s", want)
		}
	})

	for _, l := range strings.Split(fh.logs.String(), "\n") {
		if strings.Contains(l, `"level":"ERROR"`) && !strings.Contains(l, "invocation refused") {
			t.Errorf("an error was logged: %s", l)
		}
		if strings.Contains(l, "panic") {
			t.Errorf("the handler panicked: %s", l)
		}
	}
}

// checkAnswer checks one answer: the status, JSON, and the words it says; an
// error answer is {"error": "..."}, an invocation's is Outputs, Logs and
// ReturnValue.
func checkAnswer(t *testing.T, a answer, status int, says string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %.300s", a.status, status, a.body)
	}
	if !strings.HasPrefix(a.ctype, "application/json") {
		t.Errorf("Content-Type %q, want application/json", a.ctype)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("the answer is not a JSON object: %v: %.300s", err, a.body)
	}
	if status != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(a.body, &e) != nil || e.Error == "" || len(m) != 1 {
			t.Errorf("an error answer is not {\"error\": ...}: %s", a.body)
		}
		if !strings.Contains(e.Error, says) {
			t.Errorf("error %q does not say %q", e.Error, says)
		}
		return
	}
	for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the answer lacks %s: %s", k, a.body)
		}
	}
	var out struct{ Logs []string }
	if err := json.Unmarshal(a.body, &out); err != nil || !strings.Contains(strings.Join(out.Logs, "\n"), says) {
		t.Errorf("Logs %q do not say %q (%v)", out.Logs, says, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// serveOnLoopback serves h on a free loopback port until the test ends (then
// checks it shut down cleanly) and returns its base URL once it answers.
func serveOnLoopback(t *testing.T, h http.Handler, log *slog.Logger) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- functions.ListenAndServe(ctx, addr, h, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the handler did not shut down cleanly: %v", err)
		}
	})
	url := "http://" + addr
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url + "/"); err == nil {
			resp.Body.Close()
			return url
		}
		select {
		case err := <-done:
			t.Fatalf("the handler stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the handler does not answer")
		}
	}
}
