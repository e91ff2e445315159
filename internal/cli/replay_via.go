package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/session"
)

// replay --via URL sends each event of the sessions to a running app instead of
// replaying it in-process (DESIGN 3.1):
//
//   - to a Functions host (func start, or a deployed app with its master key):
//     POST URL/admin/functions/<name> with {"input": "<text>"}, which the host
//     answers 202 and runs in the background (research note §5);
//   - to a running exportguard serve: POST URL/<name> with the invocation body
//     the host would send (§2), answered when the pipeline is done.
//
// Which one URL is, is asked first: a host answers GET /admin/host/status, a
// serve GET / with {"status":"up"}.

// envFunctionsKey holds the Functions host's master key, sent as
// x-functions-key to a deployed app's admin endpoint (func start wants none).
const envFunctionsKey = "EXPORTGUARD_FUNCTIONS_KEY"

// viaFlagHelp is the help of replay's --via flag.
const viaFlagHelp = "send each event to a running app instead: a Functions host (func start; POST URL/admin/functions/<name>) " +
	"or exportguard serve (POST URL/<name> with the host's invocation body); a deployed host's master key is read from $" + envFunctionsKey

// viaTimeout bounds one invocation: serve answers when the pipeline is done,
// which the host allows functionTimeout (host.json: 10 minutes) for.
const viaTimeout = 11 * time.Minute

// viaKind is what --via points at.
type viaKind int

const (
	viaHost  viaKind = iota + 1 // a Functions host: its admin endpoint
	viaServe                    // exportguard serve: the handler itself
)

func (k viaKind) String() string {
	if k == viaHost {
		return "the Functions host"
	}
	return "exportguard serve"
}

// viaSender sends one session line's invocations to the target.
type viaSender struct {
	kind   viaKind
	base   *url.URL // without a trailing slash
	key    string   // x-functions-key, host only
	client *http.Client
	now    func() time.Time
	sweep  cron.Schedule // the sweep timer's, for the next run a timer invocation names
	errs   io.Writer
}

// viaStats counts what --via did.
type viaStats struct {
	read                 int64 // bytes of the sessions read
	lines, bad           int
	sent, failed         int
	perFunction          map[string]int
	arm, eventGridEvents int
}

// replayVia is replay --via URL SESSION...
func (a *App) replayVia(cmd *cobra.Command, target string, sessions []string) error {
	base, err := viaURL(target)
	if err != nil {
		return err
	}
	for _, p := range sessions { // every session is there before anything is sent
		if _, err := os.Stat(p); err != nil {
			return err
		}
	}
	s := &viaSender{
		base: base,
		key:  strings.TrimSpace(a.getenv(envFunctionsKey)),
		client: &http.Client{
			// Never follow a redirect: the key would go wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:  a.now,
		errs: cmd.ErrOrStderr(),
	}
	s.sweep, _ = a.sweepSchedule() // without it, a clock line's sweep falls due at once
	if s.key != "" && base.Scheme != "https" && !isLoopbackHost(base.Hostname()) {
		return fmt.Errorf("--via %s: the master key in %s goes over https only (or to a loopback address)", base.Redacted(), envFunctionsKey)
	}
	ctx := cmd.Context()
	if s.kind, err = s.detect(ctx); err != nil {
		return err
	}
	st := viaStats{perFunction: map[string]int{}}
	prog := a.newProgress(cmd.ErrOrStderr(), sessionBytes(sessions), func() string {
		return fmt.Sprintf("sending to %s: %d line(s)", s.kind, st.lines)
	})
	defer prog.stop()
	stderr := prog.writer(cmd.ErrOrStderr())
	s.errs = stderr
	for _, path := range sessions {
		if err := s.session(ctx, path, &st, prog); err != nil {
			prog.stop()
			fmt.Fprintf(stderr, "stopped after %s\n", st.summary(s))
			return err
		}
	}
	prog.stop()
	fmt.Fprintf(stderr, "%s\n", st.summary(s))
	if st.failed > 0 {
		return fmt.Errorf("%d of %d invocation(s) failed (each is reported above with its line number)", st.failed, st.sent)
	}
	return nil
}

func (st viaStats) summary(s *viaSender) string {
	var b strings.Builder
	fmt.Fprintf(&b, "sent %d invocation(s) to %s at %s: %d activitylog, %d resourceevents (%d Event Grid event(s)), %d sweep; %d failed",
		st.sent, s.kind, s.base.Redacted(), st.perFunction[functions.FunctionActivityLog], st.perFunction[functions.FunctionResourceEvents], st.eventGridEvents,
		st.perFunction[functions.FunctionSweep], st.failed)
	fmt.Fprintf(&b, "; %d arm line(s) not sent (the app reads the resources from ARM itself, and gets what ARM says now); %d malformed line(s)",
		st.arm, st.bad)
	if s.kind == viaHost {
		b.WriteString("; the host runs admin invocations in the background: their outcome is in its log")
	}
	return b.String()
}

// viaURL checks --via's URL: http or https, a host, nothing that looks like a
// secret (the key goes in the environment, never on a command line).
func viaURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--via %q: want http://HOST:PORT or https://HOST (e.g. http://localhost:7071 for func start)", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--via: give the URL without a user, query or fragment; a master key goes in %s", envFunctionsKey)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// detect asks what the URL is: a Functions host answers GET /admin/host/status
// with its state; exportguard serve answers GET / with {"status":"up"} (the
// readiness probe the host polls).
func (s *viaSender) detect(ctx context.Context) (viaKind, error) {
	status, body, err := s.get(ctx, "/admin/host/status")
	if err != nil {
		return 0, fmt.Errorf("--via %s: %w", s.base.Redacted(), err)
	}
	var host struct {
		State   string `json:"state"`
		Version string `json:"version"`
	}
	switch {
	case status == http.StatusOK && json.Unmarshal(body, &host) == nil && (host.State != "" || host.Version != ""):
		return viaHost, nil
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return 0, fmt.Errorf("--via %s: the admin endpoint answered %d: a deployed Functions host wants its master key in %s",
			s.base.Redacted(), status, envFunctionsKey)
	}
	status, body, err = s.get(ctx, "/")
	if err != nil {
		return 0, fmt.Errorf("--via %s: %w", s.base.Redacted(), err)
	}
	var up struct {
		Status string `json:"status"`
	}
	if status == http.StatusOK && json.Unmarshal(body, &up) == nil && up.Status == "up" {
		return viaServe, nil
	}
	return 0, fmt.Errorf("--via %s is neither a Functions host (GET /admin/host/status) nor exportguard serve (GET / answering {\"status\":\"up\"})",
		s.base.Redacted())
}

func (s *viaSender) get(ctx context.Context, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base.String()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "exportguard-replay")
	if s.key != "" && strings.HasPrefix(path, "/admin/") {
		req.Header.Set("x-functions-key", s.key)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, viaTransportError(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, nil
}

// viaTransportError is err without the request URL net/http puts in it (the
// URL is printed once, redacted, by the caller).
func viaTransportError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// session sends one session, line after line, in order. A malformed line, or
// an invocation the target refuses, is reported with its line number and the
// rest go on; a target that cannot be reached at all stops it.
func (s *viaSender) session(ctx context.Context, path string, st *viaStats, prog *progress) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd := session.NewReader(counting{f, &st.read})
	for {
		l, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		bad, isBad := errors.AsType[*session.BadLineError](err)
		if err != nil && !isBad {
			return fmt.Errorf("%s:%d: %w", path, rd.N(), err)
		}
		st.lines++
		prog.tick(st.read)
		if isBad {
			st.bad++
			fmt.Fprintf(s.errs, "%s:%d: %v; line skipped\n", path, bad.Line, bad.Err)
			continue
		}
		n := rd.N()
		if l.Source == session.SourceARM {
			st.arm++
			continue
		}
		calls, events := s.invocations(l, filepath.Base(path), int64(n))
		st.eventGridEvents += events
		for _, c := range calls {
			if err := ctx.Err(); err != nil {
				return err
			}
			st.sent++
			st.perFunction[c.function]++
			msg, err := s.post(ctx, c)
			if err != nil {
				if errors.Is(err, errViaUnreachable) {
					return fmt.Errorf("%s:%d: %s: %w", path, n, c.function, err)
				}
				st.failed++
				fmt.Fprintf(s.errs, "%s:%d: %s: %v\n", path, n, c.function, err)
				continue
			}
			if msg != "" {
				fmt.Fprintf(s.errs, "%s:%d: %s\n", path, n, msg)
			}
		}
	}
}

// viaCall is one invocation to send.
type viaCall struct {
	function string
	path     string // below the base URL
	body     []byte
}

// invocations turns a session line into what is sent for it, in order, and
// counts its Event Grid events. An Event Grid delivery that is an array is
// sent event by event: the host dispatches an eventGridTrigger one event at a
// time (§2.6), and its admin endpoint parses the input as one JSON object (§5).
func (s *viaSender) invocations(l session.Line, name string, seq int64) ([]viaCall, int) {
	switch l.Source {
	case session.SourceEventHub:
		body := l.Message()
		if s.kind == viaHost {
			return []viaCall{s.admin(functions.FunctionActivityLog, string(body))}, 0
		}
		msg := functions.EventHubMessage{Body: body, EnqueuedTime: l.At, SequenceNumber: seq}
		return []viaCall{{functions.FunctionActivityLog, "/" + functions.FunctionActivityLog, functions.EventHubInvocation([]functions.EventHubMessage{msg}, name, s.now())}}, 0
	case session.SourceEventGrid:
		events := splitEvents(l.Body)
		calls := make([]viaCall, 0, len(events))
		for _, ev := range events {
			if s.kind == viaHost {
				calls = append(calls, s.admin(functions.FunctionResourceEvents, string(ev)))
			} else {
				calls = append(calls, viaCall{functions.FunctionResourceEvents, "/" + functions.FunctionResourceEvents, functions.EventGridInvocation(ev, s.now())})
			}
		}
		return calls, len(events)
	case session.SourceClock:
		// One sweep per clock line: the app keeps its own clock, so the ticks a
		// clock line passes in replay have no meaning for it.
		if s.kind == viaHost {
			return []viaCall{s.admin(functions.FunctionSweep, "")}, 0
		}
		next := l.At
		if s.sweep != nil {
			next = s.sweep.Next(l.At)
		}
		return []viaCall{{functions.FunctionSweep, "/" + functions.FunctionSweep, functions.TimerInvocation(l.At, next, s.now())}}, 0
	}
	return nil, 0
}

// admin is an admin-endpoint invocation: {"input": "<text>"}, the input a
// string (the host's FunctionInvocation.Input, §5).
func (s *viaSender) admin(function, input string) viaCall {
	b, _ := json.Marshal(struct {
		Input string `json:"input"`
	}{input})
	return viaCall{function, "/admin/functions/" + function, b}
}

// splitEvents returns the events of an Event Grid delivery: the elements of an
// array, or the single object. An empty array has none.
func splitEvents(body json.RawMessage) []json.RawMessage {
	b := bytes.TrimSpace(session.Message(body))
	if len(b) > 0 && b[0] == '[' {
		var events []json.RawMessage
		if json.Unmarshal(b, &events) == nil {
			return events
		}
	}
	return []json.RawMessage{b}
}

// errViaUnreachable marks a target that did not answer at all.
var errViaUnreachable = errors.New("the target did not answer")

// post sends one invocation. The host's admin endpoint answers 202 (queued);
// serve answers 200 with the invocation answer, whose Summary says whether
// input was kept as poison: then msg says so, with the answer's Logs for a
// person to read. Any other status is an error naming
// it, with the target's short reason.
func (s *viaSender) post(ctx context.Context, c viaCall) (msg string, err error) {
	ctx, cancel := context.WithTimeout(ctx, viaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.String()+c.path, bytes.NewReader(c.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "exportguard-replay")
	if s.kind == viaHost {
		if s.key != "" {
			req.Header.Set("x-functions-key", s.key)
		}
	} else {
		req.Header.Set("X-Azure-Functions-InvocationId", functions.NewUUID())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", fmt.Errorf("no answer within %s", viaTimeout)
		}
		return "", fmt.Errorf("%w: POST %s: %v", errViaUnreachable, c.path, viaTransportError(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", fmt.Errorf("POST %s answered %d %s%s", c.path, resp.StatusCode, http.StatusText(resp.StatusCode), reasonOf(body))
	}
	if s.kind == viaServe {
		var a struct {
			Logs    []string
			Summary *functions.InvocationSummary
		}
		if json.Unmarshal(body, &a) != nil || a.Summary == nil {
			return "", fmt.Errorf("POST %s answered %d with a body that is not an invocation answer with a summary", c.path, resp.StatusCode)
		}
		if a.Summary.Rejected == 0 {
			return "", nil
		}
		return fmt.Sprintf("the app kept input it could not read as poison (%d rejected): %s", a.Summary.Rejected, strings.Join(a.Logs, "; ")), nil
	}
	return "", nil
}

// reasonOf is the short reason in an error answer: serve's {"error": "…"}, or
// the first line of a text body, clipped.
func reasonOf(body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	text := ""
	if json.Unmarshal(body, &e) == nil {
		text = e.Error
		if text == "" {
			text = e.Message
		}
	} else if t := strings.TrimSpace(string(body)); t != "" && !strings.HasPrefix(t, "<") {
		text, _, _ = strings.Cut(t, "\n")
	}
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		return ""
	}
	return ": " + text
}
