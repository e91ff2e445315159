package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// Progress through a terminal that is a buffer (App.IsTerminal) and a clock
// that moves only when read (App.Now): no test sleeps.

// stepClock is a clock that moves step forward each time it is read.
type stepClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newStepClock(step time.Duration) *stepClock {
	return &stepClock{t: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC), step: step}
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// at is the clock's time, without moving it.
func (c *stepClock) at() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// terminalApp is testApp writing stdout and stderr to one buffer taken for a
// terminal, as a person at a terminal sees them, timed by clock.
func terminalApp(clock *stepClock) (*App, *syncBuffer) {
	app := testApp()
	return app, onTerminal(app, clock)
}

// onTerminal makes app write stdout and stderr to one buffer taken for a
// terminal, timed by clock.
func onTerminal(app *App, clock *stepClock) *syncBuffer {
	var screen syncBuffer
	app.Stdout, app.Stderr = &screen, &screen
	app.IsTerminal = func(w io.Writer) bool {
		if c, ok := w.(*clearing); ok {
			w = c.w
		}
		return w == &screen
	}
	app.Now = clock.now
	return &screen
}

// syncBuffer is a bytes.Buffer safe for the writers of one run.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// screenLines is what a terminal shows after raw: \r goes back to the line's
// start, ESC [ K erases to its end, \n starts a new line; anything else is
// written over what is there.
func screenLines(raw string) []string {
	lines := [][]rune{nil}
	col := 0
	for i := 0; i < len(raw); {
		cur := &lines[len(lines)-1]
		switch {
		case strings.HasPrefix(raw[i:], "\033[K"):
			*cur = (*cur)[:min(col, len(*cur))]
			i += len("\033[K")
			continue
		case raw[i] == '\r':
			col = 0
		case raw[i] == '\n':
			lines, col = append(lines, nil), 0
		default:
			r := []rune(raw[i : i+1])[0]
			if col < len(*cur) {
				(*cur)[col] = r
			} else {
				*cur = append(*cur, r)
			}
			col++
		}
		i++
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = string(l)
	}
	return out
}

// The line is redrawn at most once a second, however often work is
// reported, and by time, not by count: with a clock that moves by step at
// every report, every draw is a second or more after the one before.
func TestProgressRedrawsAtMostOncePerSecond(t *testing.T) {
	t.Parallel()
	for _, step := range []time.Duration{10 * time.Millisecond, 300 * time.Millisecond, 999 * time.Millisecond, time.Second, 2500 * time.Millisecond} {
		t.Run(step.String(), func(t *testing.T) {
			clock := newStepClock(step)
			app, screen := terminalApp(clock)
			start := clock.at().Add(step) // newProgress reads the clock once
			var drawn []time.Time
			n := 0
			p := app.newProgress(screen, 0, func() string { drawn = append(drawn, clock.at()); return fmt.Sprintf("%d done", n) })
			const ticks = 400
			for n = 1; n <= ticks; n++ {
				p.tick(int64(n))
			}
			p.stop()
			span := time.Duration(ticks) * step
			if want := int(span / max(step, time.Second) / 2); len(drawn) < max(want, 1) {
				t.Fatalf("%d draws over %s of work, want at least %d", len(drawn), span, max(want, 1))
			}
			last := start
			for i, at := range drawn {
				if at.Sub(last) < time.Second {
					t.Errorf("draw %d at +%s, %s after the one before: more than once a second", i, at.Sub(start), at.Sub(last))
				}
				last = at
			}
			if got := strings.Count(screen.String(), " done"); got != len(drawn) {
				t.Errorf("%d lines written, %d drawn", got, len(drawn))
			}
			if s := screenLines(screen.String()); len(s) != 1 || s[0] != "" {
				t.Errorf("after stop the terminal shows %q, want nothing", s)
			}
		})
	}
}

// With the total known, the line says how far in percent and how long is
// left at the pace so far; without it, only the count.
func TestProgressPercentageAndTimeLeft(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		total, done int64
		after       time.Duration // since the start
		want        string
	}{
		{"total not known", 0, 500, 2 * time.Second, "s.ndjson: 7 lines"},
		{"a quarter in 2s", 1000, 250, 2 * time.Second, "s.ndjson: 7 lines, 25%, about 6s left"},
		{"under a second left is a second", 1000, 999, 3 * time.Second, "s.ndjson: 7 lines, 99%, about 1s left"},
		{"all done", 1000, 1000, 5 * time.Second, "s.ndjson: 7 lines, 100%"},
		{"more than the total", 1000, 1500, 5 * time.Second, "s.ndjson: 7 lines, 100%"},
		{"nothing done yet", 1000, 0, 5 * time.Second, "s.ndjson: 7 lines"},
		{"hours left, to the minute", 10000, 1, 3 * time.Second, "s.ndjson: 7 lines, 0%, about 8h20m0s left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newStepClock(0)
			app, screen := terminalApp(clock)
			p := app.newProgress(screen, tc.total, func() string { return "s.ndjson: 7 lines" })
			clock.t = clock.t.Add(tc.after)
			p.tick(tc.done)
			if got := screenLines(screen.String()); len(got) != 1 || got[0] != tc.want {
				t.Errorf("terminal shows %q, want %q", got, tc.want)
			}
		})
	}
}

// Anything written to stdout or stderr through the progress writer clears
// the line first, so it starts at column 0; the line comes back at the next
// draw.
func TestProgressClearedBeforeOutput(t *testing.T) {
	t.Parallel()
	clock := newStepClock(time.Second)
	app, screen := terminalApp(clock)
	n := 0
	p := app.newProgress(screen, 0, func() string { return fmt.Sprintf("s100.ndjson: %d lines replayed", n) })
	out := p.writer(screen)
	n = 1000
	p.tick(0)
	fmt.Fprintln(out, "s100.ndjson:3: not JSON; line skipped")
	n = 2000
	p.tick(0)
	p.stop()
	fmt.Fprintln(out, "STATUS    SEVERITY")
	p.tick(0) // stopped: nothing more
	want := []string{"s100.ndjson:3: not JSON; line skipped", "STATUS    SEVERITY", ""}
	if got := screenLines(screen.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("terminal shows\n%q\nwant\n%q\nraw %q", got, want, screen.String())
	}
	if !strings.Contains(screen.String(), "2000 lines replayed") {
		t.Errorf("the line was not drawn again after the output: %q", screen.String())
	}
}

// Not a terminal (a pipe, a file, a buffer): nothing is drawn, no control
// byte is written, and output passes untouched.
func TestProgressNotOnAPipe(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	app := testApp()
	app.Now = newStepClock(time.Hour).now
	p := app.newProgress(w, 100, func() string { return "working" })
	for i := range int64(10) {
		p.tick(i * 10)
	}
	fmt.Fprintln(p.writer(w), "output")
	app.announce(w, "connecting to %s", "guard-eh.servicebus.windows.net")
	p.stop()
	w.Close()
	got, _ := io.ReadAll(r)
	if string(got) != "output\n" {
		t.Errorf("the pipe got %q, want only the output", got)
	}
}

// replay on a terminal: the progress line is drawn while the session
// replays, and the table's first line starts at column 0 (issue 18:
// "s100.ndjson: 1000 lines replayedSTATUS    SEVERITY ..."); nothing of the
// progress line is left on the screen.
func TestReplayOnATerminalClearsProgressBeforeTheTable(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			app, screen := terminalApp(newStepClock(time.Second))
			if err := app.Run(t.Context(), []string{"replay", "--format", format, "testdata/sessions/malformed-lines.ndjson", "testdata/sessions/storage-replication.ndjson"}); err != nil {
				t.Fatal(err)
			}
			raw := screen.String()
			if !strings.Contains(raw, "storage-replication.ndjson: 8 lines replayed, ") || !strings.Contains(raw, "%") {
				t.Fatalf("no progress line with a percentage was drawn: %q", raw)
			}
			lines := screenLines(raw)
			first := map[string]string{"table": "STATUS ", "json": "{"}[format]
			found := false
			for _, l := range lines {
				if strings.Contains(l, "replayed") {
					t.Errorf("the progress line is left on the screen: %q", l)
				}
				if strings.HasPrefix(l, first) {
					found = true
				}
				if strings.Contains(l, "line skipped") && !strings.HasPrefix(l, "testdata/sessions/malformed-lines.ndjson:") {
					t.Errorf("a bad line's report does not start at column 0: %q", l)
				}
			}
			if !found {
				t.Errorf("no line starts with %q:\n%s", first, strings.Join(lines, "\n"))
			}
		})
	}
}

// replay --to-eventhub writes no control sequence where stderr is not a
// terminal (it wrote "\r\033[K" before its summary into a pipe).
func TestReplayToEventHubNoControlBytesInAPipe(t *testing.T) {
	t.Parallel()
	app := azureApp(map[string]string{})
	app.OpenSender = func(eventhubs.Target, eventhubs.ProducerOptions) (eventhubs.Sender, error) {
		return &ehtest.Sender{MaxBytes: 256 << 10}, nil
	}
	errOut, err := runReplayToEventHub(t, app, "guard-eh/insights-activity-logs", "", "testdata/sessions/malformed-lines.ndjson", "testdata/sessions/gov-jit-overstay.ndjson")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, "published ") || strings.ContainsAny(errOut, "\r\033") {
		t.Errorf("stderr (not a terminal) %q: want the summary and no control bytes", errOut)
	}
}

// Before it waits for Azure, a verb says on a terminal what it reaches and
// how it signs in (record was silent for 43 s before a DNS error), naming
// the host, never the connection string's key; in a pipe it says nothing.
func TestRecordSaysWhatItConnectsTo(t *testing.T) {
	t.Parallel()
	const key = "SAS_KEY_VALUE"
	for _, tc := range []struct {
		name     string
		terminal bool
		cs       string
		want     string // "" for no line at all
	}{
		{"entra id", true, "", "connecting to guard-eh.servicebus.windows.net/insights-activity-logs (signing in with DefaultAzureCredential)…\n"},
		{"connection string", true, "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=" + key + ";UseDevelopmentEmulator=true;",
			"connecting to localhost/insights-activity-logs (the connection string in $" + envEventHubConnectionString + ")…\n"},
		{"a pipe", false, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := azureApp(map[string]string{envEventHubConnectionString: tc.cs})
			opened := false
			app.OpenReceiver = func(context.Context, eventhubs.Target, eventhubs.ConsumerOptions) (eventhubs.Receiver, error) {
				opened = true
				return nil, errors.New("dial tcp: lookup guard-eh.servicebus.windows.net: no such host")
			}
			var screen interface{ String() string }
			if tc.terminal {
				screen = onTerminal(app, newStepClock(time.Second))
			} else {
				var b bytes.Buffer
				app.Stdout, app.Stderr, screen = &b, &b, &b
			}
			err := app.Run(t.Context(), []string{"record", "--eventhub", "guard-eh/insights-activity-logs", "-o", filepath.Join(t.TempDir(), "s.ndjson")})
			if err == nil || !opened {
				t.Fatalf("record: %v (opened %v), want the receiver's error", err, opened)
			}
			got := screen.String()
			if strings.Contains(got, key) {
				t.Errorf("the key is on the screen: %q", got)
			}
			if tc.want == "" && strings.Contains(got, "connecting") || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("stderr %q, want %q", got, tc.want)
			}
		})
	}
}

// scan on a terminal: it says what it signs in to, draws its count with a
// percentage of the records Resource Graph announced, and the table starts
// at column 0 with nothing of the progress line left.
func TestScanOnATerminal(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	for i := range 5 {
		srv.Put(outOfUS(scanAccount(scanSubA, fmt.Sprintf("stout%d", i))))
	}
	app := testApp()
	app.NewARM = func(cloudName string, _ resourcemanager.Options) (*resourcemanager.Client, error) {
		return resourcemanager.NewDefault(cloudName, resourcemanager.Options{Credential: rgtest.Credential(), ARM: srv.ClientOptions()})
	}
	screen := onTerminal(app, newStepClock(time.Second))
	if err := app.Run(t.Context(), []string{"scan", "--store", "memory:", "--subscription", scanSubA}); err != nil {
		t.Fatalf("%v\n%s", err, screen)
	}
	raw := screen.String()
	for _, want := range []string{"scanning 1 subscription(s) in AzureCloud with Resource Graph (signing in with DefaultAzureCredential)…\n", "resources judged, ", "%"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the terminal was not shown %q: %q", want, raw)
		}
	}
	found := false
	for _, l := range screenLines(raw) {
		if strings.Contains(l, "resources judged") {
			t.Errorf("the progress line is left on the screen: %q", l)
		}
		found = found || strings.HasPrefix(l, "STATUS ")
	}
	if !found {
		t.Errorf("no line starts with the table's header:\n%s", strings.Join(screenLines(raw), "\n"))
	}
}

// replay --compare and policy test replay whole sessions too: on a terminal
// they show the progress line with a percentage (over both replays for the
// what-if), and clear it before their output.
func TestWhatIfAndPolicyTestShowProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, first string
		args              []string
	}{
		{"what-if", "what-if: replaying under both policies", "CHANGE ",
			[]string{"replay", "--compare", "testdata/whatif/old.yaml", "--policy", "testdata/customrules/whatif-new.yaml", "testdata/sessions/storage-replication.ndjson"}},
		{"policy test", "policy test: replaying", "RULE ",
			[]string{"policy", "test", "testdata/customrules/whatif-new.yaml", "testdata/sessions/storage-replication.ndjson"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, screen := terminalApp(newStepClock(time.Second))
			if err := app.Run(t.Context(), tc.args); err != nil {
				t.Fatal(err)
			}
			raw := screen.String()
			if !strings.Contains(raw, tc.text+", ") || !strings.Contains(raw, "%") {
				t.Fatalf("no progress line with a percentage was drawn: %q", raw)
			}
			found := false
			for _, l := range screenLines(raw) {
				if strings.Contains(l, tc.text) {
					t.Errorf("the progress line is left on the screen: %q", l)
				}
				found = found || strings.HasPrefix(l, tc.first)
			}
			if !found {
				t.Errorf("no line starts with %q:\n%s", tc.first, raw)
			}
		})
	}
}
