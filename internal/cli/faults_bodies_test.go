package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// Hostile bodies against `exportguard serve` in a process of its own (issue
// 14, case 10), so that its memory can be read from /proc: the largest bodies
// host.json allows, many at once; bodies over the limit; a message over Event
// Hubs' 1 MB in an otherwise good batch.

const envBodiesChild = "EXPORTGUARD_BODIES_CHILD"

// TestFaultBodiesServeChild is not a test: it is the child process of
// TestFaultBodiesMemory (started with EXPORTGUARD_BODIES_CHILD set). It runs
// the serve verb as the host does (FUNCTIONS_CUSTOMHANDLER_PORT, host.json in
// the working directory), with an empty recorded ARM in place of Azure's, and
// stops on SIGTERM.
func TestFaultBodiesServeChild(t *testing.T) {
	t.Parallel()
	if os.Getenv(envBodiesChild) == "" {
		return
	}
	app := testApp()
	app.ARMReader = func(string) (guard.ResourceReader, error) { return replay.NewARM(time.Now), nil }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, []string{"serve"}); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// servedChild is a serve process and where it listens.
type servedChild struct {
	cmd    *exec.Cmd
	base   string
	store  string
	stderr *bytes.Buffer
	done   chan struct{}
}

func startServeChild(t *testing.T) *servedChild {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	c := &servedChild{base: "http://127.0.0.1:" + port, store: filepath.Join(t.TempDir(), "serve.db"),
		stderr: &bytes.Buffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestFaultBodiesServeChild$", "-test.count=1", "-test.v=false")
	// The working directory is the repository's: serve reads its host.json.
	c.cmd.Env = append(os.Environ(), envBodiesChild+"=1", "FUNCTIONS_CUSTOMHANDLER_PORT="+port,
		envStore+"=sqlite:"+c.store, envLogLevel+"=warn", "GOMEMLIMIT=", "AzureWebJobsScriptRoot=")
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() { c.stop(t) })
	for i := 0; ; i++ {
		resp, err := http.Get(c.base + "/")
		if err == nil {
			resp.Body.Close()
			return c
		}
		select {
		case <-c.done:
			t.Fatalf("serve stopped before answering: %s", c.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if i == 400 {
			t.Fatalf("serve never answered the readiness probe: %v", err)
		}
	}
}

// peakRSS is the child's peak resident set (VmHWM), in bytes.
func (c *servedChild) peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/PID/status")
	return 0
}

func (c *servedChild) stop(t *testing.T) {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		t.Errorf("serve did not stop on SIGTERM")
	}
}

// post sends one invocation: with its Content-Length, or chunked as the
// host's ObjectContent is.
func (c *servedChild) post(fn string, body []byte, chunked bool) (int, string, error) {
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // not a type net/http knows the length of
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/"+fn, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), nil
}

// hostBatch is Data.events as the host sends it (§2.5): a JSON string holding
// a JSON array of strings. Each message is given as its text escaped twice
// already, so that a test can build tens of megabytes without encoding them.
func hostBatch(twiceEscaped ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"Data":{"events":"[`)
	for i, m := range twiceEscaped {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`\"`)
		b.WriteString(m)
		b.WriteString(`\"`)
	}
	b.WriteString(`]"},"Metadata":{"PartitionContext":{"PartitionId":"0"}}}`)
	return b.Bytes()
}

// twice is s escaped as a JSON string twice, without its quotes.
func twice(s string) string {
	once, _ := json.Marshal(s)
	two, _ := json.Marshal(string(once[1 : len(once)-1]))
	return string(two[1 : len(two)-1])
}

// recordsMessage is an Activity Log message of about size bytes: the
// session's records, repeated.
func recordsMessage(t *testing.T, size int) string {
	t.Helper()
	var recs []json.RawMessage
	for _, l := range sessionLines(t, session.SourceEventHub) {
		var m struct{ Records []json.RawMessage }
		if err := json.Unmarshal(l.Body, &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m.Records...)
	}
	var b bytes.Buffer
	b.WriteString(`{"records":[`)
	for i := 0; b.Len() < size-(8<<10); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(recs[i%len(recs)])
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestFaultBodiesMemory sends serve the largest bodies its host.json allows,
// several at once, of the two worst kinds: every message byte a control
// character (each escaped to 7 bytes, the most the host's escaping makes of
// one) and Activity Log records (the most the pipeline decodes per byte). All
// are answered 200, and the process's peak resident set, read from
// /proc/PID/status, stays under 512 MB.
func TestFaultBodiesMemory(t *testing.T) {
	t.Parallel()
	batch, _, err := functions.HostBatchSize(must(os.ReadFile("host.json")))
	if err != nil {
		t.Fatal(err)
	}
	limit := functions.BodyLimit(batch)
	at := faultsScale(t, 4, 8)

	controls := strings.Repeat(`\\u0001`, functions.MaxMessageBytes) // 1 MiB of 0x01, escaped twice
	records := twice(recordsMessage(t, functions.MaxMessageBytes))
	// As many records messages as fit the limit, escaped as the host escapes them.
	var recs []string
	for size := len(hostBatch()); size+len(records)+3 <= int(limit) && len(recs) < batch; size += len(records) + 3 {
		recs = append(recs, records)
	}
	var ctrl []string
	for range batch {
		ctrl = append(ctrl, controls)
	}
	kinds := []struct {
		name string
		body []byte
	}{
		{"control characters, 7 bytes each", hostBatch(ctrl...)},
		{"activity log records", hostBatch(recs...)},
	}
	if n := int64(len(kinds[0].body)); n > limit || n < limit*9/10 {
		t.Fatalf("body of %d bytes, want just under the limit %d", n, limit)
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { sendAtOnce(t, startServeChild(t), k.body, at) })
	}
}

// sendAtOnce posts body to /activitylog at times at once (every other one
// chunked), checks each is answered 200, and the process's peak memory.
func sendAtOnce(t *testing.T, c *servedChild, body []byte, at int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan string, at)
	for i := range at {
		wg.Go(func() {
			status, answer, err := c.post("activitylog", body, i%2 == 0)
			if err != nil || status != http.StatusOK {
				errs <- fmt.Sprintf("#%d: %d %v %.200s", i, status, err, answer)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	peak := c.peakRSS(t)
	t.Logf("%d bodies of %d bytes at once: peak RSS %d MB", at, len(body), peak>>20)
	if peak >= 512<<20 {
		t.Errorf("after %d bodies of %d bytes at once: peak RSS %d MB, want under 512 MB", at, len(body), peak>>20)
	}
}

// TestFaultBodiesOversized: a body over the limit is refused with 413,
// whether or not it says its length up front; a message body over 1 MiB in a
// batch is kept as poison, unread, with the reason, and the batch's other
// message goes on.
func TestFaultBodiesOversized(t *testing.T) {
	t.Parallel()
	c := startServeChild(t)
	batch, _, err := functions.HostBatchSize(must(os.ReadFile("host.json")))
	if err != nil {
		t.Fatal(err)
	}
	limit := functions.BodyLimit(batch)
	tooBig := hostBatch(strings.Repeat("x", int(limit)))
	for _, chunked := range []bool{false, true} {
		status, answer, err := c.post("activitylog", tooBig, chunked)
		if err != nil || status != http.StatusRequestEntityTooLarge {
			t.Errorf("body of %d bytes (chunked %v): %d %v %.200s, want 413", len(tooBig), chunked, status, err, answer)
		}
	}

	good := sessionLines(t, session.SourceEventHub)[0].Body
	tests := []struct {
		name string
		big  string // the message over the limit, escaped twice
		size int    // its length decoded
	}{
		{"plain text", strings.Repeat("a", functions.MaxMessageBytes+1), functions.MaxMessageBytes + 1},
		{"unicode escapes", strings.Repeat(`\\u00e9`, functions.MaxMessageBytes/2+1), functions.MaxMessageBytes + 2},
	}
	for _, tt := range tests {
		status, answer, err := c.post("activitylog", hostBatch(tt.big, twice(string(good))), true)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %v %.300s, want 200", tt.name, status, err, answer)
		}
		want := fmt.Sprintf("message body 1 of the batch is %d bytes, over Event Hubs' 1048576-byte message limit", tt.size)
		if !strings.Contains(answer, want) {
			t.Errorf("%s: answer %.400s, want the log line %q", tt.name, answer, want)
		}
		if m := handled.FindStringSubmatch(answer); m == nil || m[1] == "0" {
			t.Errorf("%s: answer %.400s, want the other message body handled (its changes counted)", tt.name, answer)
		}
	}
	c.stop(t)
	st, err := sqlite.Open(context.Background(), c.store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, err := st.ListPoison(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for _, p := range ps {
		if strings.Contains(p.Reason, "over Event Hubs' 1048576-byte message limit") && p.Source == string(guard.SourceEventHub) {
			kept++
		}
	}
	if kept != len(tests) {
		t.Errorf("%d oversized messages kept as poison, want %d", kept, len(tests))
	}
}

// handled is the invocation log line of a batch: how many bodies went to the
// pipeline and how many changes they held.
var handled = regexp.MustCompile(`activitylog: 1 message bodies: (\d+) changes`)
