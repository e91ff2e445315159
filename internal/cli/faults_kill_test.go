package cli

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	"github.com/cloudevents/sdk-go/v2/event"
	gocmp "github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
)

// ---------------------------------------------------------------------------
// A large session: copies of remediation-auto, each with its own names, IDs
// and times.

var (
	faultUUID      = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	faultTimestamp = regexp.MustCompile(`"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z"`)
	// The names of remediation-auto's resources and resource groups: each
	// copy gets them with a suffix, so that every finding (and every card,
	// which names the resource by its last segment) is its own.
	faultNames = []string{"itarcad", "itarkeys", "legacyftp", "eng-docs", "kv-partner-eu", "sql-itar-east", "fg-itar-drawings",
		"rg-itar-eng", "rg-partner-eu", "rg-dr"}
)

// faultCopy rewrites one line of remediation-auto for copy k: resource names
// suffixed, every UUID but the subscription's replaced by one of its own,
// every timestamp moved on by shift.
func faultCopy(line string, k int, shift time.Duration) string {
	suffix := fmt.Sprintf("c%04d", k)
	for _, n := range faultNames {
		line = strings.ReplaceAll(line, n, n+suffix)
	}
	line = faultUUID.ReplaceAllStringFunc(line, func(u string) string {
		if strings.EqualFold(u, remSub) {
			return u
		}
		h := sha256.Sum256([]byte(strings.ToLower(u) + "/" + suffix))
		x := hex.EncodeToString(h[:16])
		return x[:8] + "-" + x[8:12] + "-4" + x[13:16] + "-8" + x[17:20] + "-" + x[20:32]
	})
	return faultTimestamp.ReplaceAllStringFunc(line, func(s string) string {
		m := faultTimestamp.FindStringSubmatch(s)
		t, err := time.Parse("2006-01-02T15:04:05", m[1])
		if err != nil {
			return s
		}
		t = t.Add(shift)
		frac := ""
		if m[2] != "" {
			frac = "." + strings.Repeat("0", len(m[2])-1)
			t = t.Add(parseFraction(m[2]))
		}
		return `"` + t.Format("2006-01-02T15:04:05"+frac+"Z") + `"`
	})
}

func parseFraction(f string) time.Duration {
	digits := (f[1:] + "000000000")[:9]
	n, _ := strconv.Atoi(digits)
	return time.Duration(n)
}

// sessionLine is one line with the time it sorts by.
type sessionLine struct {
	at   time.Time
	text string
	copy int
}

// writeFaultSession writes a session of n copies of remediation-auto, copy k
// moved on by k×step and merged into one stream, oldest first (each copy's
// own order kept: its late deliveries stay late). The copies' clock lines
// are replaced by one every five minutes, from the first line to half an
// hour past the last, so that the sweep runs on the function's schedule
// throughout. It returns the path and the number of lines.
func writeFaultSession(t *testing.T, n int, step time.Duration) (string, int) {
	t.Helper()
	raw, err := os.ReadFile(remSession)
	if err != nil {
		t.Fatal(err)
	}
	var base []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, `"source":"clock"`) {
			base = append(base, l)
		}
	}
	copies := make([][]sessionLine, n)
	for k := range n {
		for _, l := range base {
			text := faultCopy(l, k, time.Duration(k)*step)
			pl, err := session.Parse([]byte(text))
			if err != nil {
				t.Fatalf("copy %d: %v\n%s", k, err, text)
			}
			copies[k] = append(copies[k], sessionLine{at: pl.At, text: text, copy: k})
		}
	}
	var out []string
	h := &lineHeap{}
	for k := range copies {
		heap.Push(h, copies[k])
	}
	var first, last time.Time
	for h.Len() > 0 {
		c := heap.Pop(h).([]sessionLine)
		if first.IsZero() {
			first = c[0].at
		}
		out = append(out, c[0].text)
		last = c[0].at
		if len(c) > 1 {
			heap.Push(h, c[1:])
		}
	}
	// Clock lines every five minutes, each before the first line past it.
	var merged []string
	tick := first.Truncate(5 * time.Minute)
	clock := func(at time.Time) string {
		return `{"source":"clock","at":"` + at.UTC().Format(time.RFC3339) + `"}`
	}
	for _, l := range out {
		pl, _ := session.Parse([]byte(l))
		for !tick.After(pl.At) {
			merged = append(merged, clock(tick))
			tick = tick.Add(5 * time.Minute)
		}
		merged = append(merged, l)
	}
	for ; !tick.After(last.Add(30 * time.Minute)); tick = tick.Add(5 * time.Minute) {
		merged = append(merged, clock(tick))
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("faults-%d.ndjson", n))
	if err := os.WriteFile(p, []byte(strings.Join(merged, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, len(merged)
}

// lineHeap merges the copies by the time of each one's next line (then by copy).
type lineHeap [][]sessionLine

func (h lineHeap) Len() int { return len(h) }
func (h lineHeap) Less(i, j int) bool {
	if !h[i][0].at.Equal(h[j][0].at) {
		return h[i][0].at.Before(h[j][0].at)
	}
	return h[i][0].copy < h[j][0].copy
}
func (h lineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *lineHeap) Push(x any)   { *h = append(*h, x.([]sessionLine)) }
func (h *lineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ---------------------------------------------------------------------------
// The child: a replay in a process of its own, which the test kills.

const envFaultsChild = "EXPORTGUARD_FAULTS_CHILD"

// childSpec tells a child process what to replay and where to die.
type childSpec struct {
	Store, Policy, Session string // Store: the store's URL
	Journal                string // the session's ARM writes, kept across restarts (see armJournal)
	Findings, Stats        string // where the child writes the findings (JSON lines) and its counts
	// KillAtAudit, when set, arms a kill at the first audit record at or
	// after it; the child then SIGKILLs itself after KillAfterWrites more store
	// writes (0: right after that record is stored).
	KillAtAudit     time.Time
	KillAfterWrites int
	// KillAtARM, when set: SIGKILL right after the first ARM write at or after
	// it is made (and journaled), before the executor records it.
	KillAtARM time.Time
	// KillBatch, when set (killBeforeCommit or killAfterCommit), arms a kill
	// at the first Batch that appends an audit record at or after
	// KillBatchAt (see killingStore.Batch).
	KillBatch   string
	KillBatchAt time.Time
}

// childStats is what a child that ran to the end counted.
type childStats struct {
	StoreWrites, ARMWrites int
	Took                   time.Duration
}

// TestFaultsChildProcess is not a test: it is the child process of
// TestFaultKillReplay (started with EXPORTGUARD_FAULTS_CHILD set), which
// replays a session as the replay verb does and may kill itself.
func TestFaultsChildProcess(t *testing.T) {
	t.Parallel()
	raw := os.Getenv(envFaultsChild)
	if raw == "" {
		return
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child spec:", err)
		os.Exit(2)
	}
	if err := faultsChild(spec); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func die() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// faultsChild replays the session into the store as the replay verb does
// (newPipeline, the replay.Replayer with the sweep's schedule, remediation
// bound to the session's ARM), with two differences: the session's ARM keeps
// its writes in a journal, read back at the start, as Azure keeps them across
// a crash; and the store may kill the process (killingStore).
func faultsChild(spec childSpec) error {
	start := time.Now()
	ctx := context.Background()
	log, err := newLogger(os.Stderr, "error", true)
	if err != nil {
		return err
	}
	pol, err := policyfile.Load(spec.Policy)
	if err != nil {
		return err
	}
	sched, err := testApp().sweepSchedule()
	if err != nil {
		return err
	}
	inner, err := testApp().openStore(ctx, spec.Store)
	if err != nil {
		return err
	}
	defer inner.Close()
	st := &killingStore{Store: inner, at: spec.KillAtAudit, after: spec.KillAfterWrites,
		batchKill: spec.KillBatch, batchAt: spec.KillBatchAt, nestedCommits: strings.HasPrefix(spec.Store, "cosmos:")}
	pl, err := testApp().newPipeline(st, nil, pol, log)
	if err != nil {
		return err
	}
	replayLease(pl)
	j := &armJournal{path: spec.Journal, killAt: spec.KillAtARM}
	var bindErr error
	r := &replay.Replayer{Pipeline: pl, Schedule: sched, Errors: os.Stderr,
		Bind: func(a *replay.ARM) {
			if err := j.restore(a); err != nil {
				bindErr = err
			}
			bindRemediation(pl, a)
			if ex := remediationExecutor(pl); ex != nil {
				ex.Writer = &journalWriter{j: j, arm: a}
			}
		}}
	f, err := os.Open(spec.Session)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := r.Run(ctx, spec.Session, f); err != nil {
		return err
	}
	if bindErr != nil {
		return bindErr
	}
	fs, err := inner.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return err
	}
	sortFindings(fs)
	var b bytes.Buffer
	if err := printJSON(&b, fs); err != nil {
		return err
	}
	if err := os.WriteFile(spec.Findings, b.Bytes(), 0o644); err != nil {
		return err
	}
	stats, _ := json.Marshal(childStats{StoreWrites: st.writes, ARMWrites: j.writes, Took: time.Since(start)})
	return os.WriteFile(spec.Stats, stats, 0o644)
}

// killingStore counts the store's writes and, once armed by an audit record
// at or after its time, SIGKILLs the process after the given number of
// further writes: a crash between two writes the pipeline makes, at a point
// of the session that does not depend on how fast the machine is.
type killingStore struct {
	guard.Store
	mu     sync.Mutex
	at     time.Time
	after  int
	armed  bool
	writes int

	// batchKill (killBeforeCommit, killAfterCommit) kills at a Batch that
	// appends an audit record at or after batchAt; batchAudits counts those
	// records. nestedCommits: a Batch under a Batch commits on its own when
	// it returns (Cosmos DB), rather than with the outermost (SQLite).
	batchKill     string
	batchAt       time.Time
	batchAudits   int
	nestedCommits bool
}

// The kill points of killingStore.Batch.
const (
	// killBeforeCommit: the Batch's function has run (the change's partition
	// read, its writes made in the Batch) and returned; the store has not
	// committed them.
	killBeforeCommit = "before-commit"
	// killAfterCommit: the store committed the Batch (the outermost one on
	// SQLite, where a nested Batch joins it; the change's own on Cosmos DB);
	// the pipeline has not heard the answer (no next change, no dispatch).
	killAfterCommit = "after-commit"
)

type batchDepth struct{}

// Batch passes the pipeline's batches on to the store, as serve's store gets
// them: a kill then lands inside a delivery's transaction, or a change's
// unit (a Batch nested in it), or between a unit and its answer. With
// batchKill set, it SIGKILLs the process at that point of the first Batch
// that appends an audit record at or after batchAt.
func (s *killingStore) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.batchKill == "" {
		return s.Store.Batch(ctx, fn)
	}
	outer := ctx.Value(batchDepth{}) == nil
	var armed bool // by the last run of fn (the store may run it again)
	err := s.Store.Batch(ctx, func(ctx context.Context) error {
		s.mu.Lock()
		before := s.batchAudits
		s.mu.Unlock()
		err := fn(context.WithValue(ctx, batchDepth{}, true))
		s.mu.Lock()
		armed = s.batchAudits > before
		s.mu.Unlock()
		if err == nil && armed && s.batchKill == killBeforeCommit {
			die()
		}
		return err
	})
	if err == nil && armed && s.batchKill == killAfterCommit && (outer || s.nestedCommits) {
		die()
	}
	return err
}

func (s *killingStore) wrote(audit *guard.AuditRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.at.IsZero() {
		return
	}
	if !s.armed && audit != nil && !audit.At.Before(s.at) {
		s.armed = true
	}
	if s.armed {
		if s.after == 0 {
			die()
		}
		s.after--
	}
}

func (s *killingStore) UpdateFinding(ctx context.Context, partition, id string, fn func(*guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	f, err := s.Store.UpdateFinding(ctx, partition, id, fn)
	s.wrote(nil)
	return f, err
}

func (s *killingStore) PutResource(ctx context.Context, r *guard.Resource) error {
	err := s.Store.PutResource(ctx, r)
	s.wrote(nil)
	return err
}

func (s *killingStore) MarkProcessed(ctx context.Context, partition, key string, at time.Time) error {
	err := s.Store.MarkProcessed(ctx, partition, key, at)
	s.wrote(nil)
	return err
}

func (s *killingStore) PutGrant(ctx context.Context, g guard.Grant) error {
	err := s.Store.PutGrant(ctx, g)
	s.wrote(nil)
	return err
}

func (s *killingStore) DeleteGrant(ctx context.Context, id string) error {
	err := s.Store.DeleteGrant(ctx, id)
	s.wrote(nil)
	return err
}

func (s *killingStore) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	err := s.Store.Enqueue(ctx, it)
	s.wrote(nil)
	return err
}

func (s *killingStore) Complete(ctx context.Context, partition, id string) error {
	err := s.Store.Complete(ctx, partition, id)
	s.wrote(nil)
	return err
}

func (s *killingStore) Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error {
	err := s.Store.Retry(ctx, partition, id, next, lastErr)
	s.wrote(nil)
	return err
}

func (s *killingStore) Fail(ctx context.Context, partition, id, reason string) error {
	err := s.Store.Fail(ctx, partition, id, reason)
	s.wrote(nil)
	return err
}

func (s *killingStore) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	out, err := s.Store.AppendAudit(ctx, rec)
	if err == nil && !s.batchAt.IsZero() && !rec.At.Before(s.batchAt) {
		s.mu.Lock()
		s.batchAudits++
		s.mu.Unlock()
	}
	s.wrote(&rec)
	return out, err
}

func (s *killingStore) PutPoison(ctx context.Context, p guard.PoisonRecord) error {
	err := s.Store.PutPoison(ctx, p)
	s.wrote(nil)
	return err
}

// armJournal keeps the writes remediation made to the session's ARM in a
// file, synced after each, and gives them back to the next process's ARM: a
// write ARM acknowledged is not forgotten when exportguard dies, as it is not
// in Azure. A write counts as made once it is in the journal.
type armJournal struct {
	path   string
	killAt time.Time
	mu     sync.Mutex
	writes int
}

// journalEntry is one write and the states it left.
type journalEntry struct {
	Method string          `json:"method"`
	ID     string          `json:"id"`
	Body   json.RawMessage `json:"body,omitempty"`
	At     time.Time       `json:"at"`
	States []journalState  `json:"states"`
}

type journalState struct {
	ID      string          `json:"id"`
	Body    json.RawMessage `json:"body,omitempty"`
	Deleted bool            `json:"deleted,omitempty"`
}

func readJournal(path string) ([]journalEntry, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []journalEntry
	for _, l := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var e journalEntry
		if err := json.Unmarshal(l, &e); err != nil {
			// A line cut short by the kill: the write was not acknowledged.
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// restore gives a new session ARM the states the journal's writes left.
func (j *armJournal) restore(a *replay.ARM) error {
	es, err := readJournal(j.path)
	if err != nil {
		return err
	}
	for _, e := range es {
		for _, s := range e.States {
			body := s.Body
			if s.Deleted {
				body = json.RawMessage(`{"id":` + strconv.Quote(s.ID) + `}`)
			}
			a.Observe(session.Line{Source: session.SourceARM, At: e.At, ID: s.ID, Body: body, Deleted: s.Deleted})
		}
	}
	return nil
}

// journalWriter is the executor's Writer: the session's ARM, journaled.
type journalWriter struct {
	j   *armJournal
	arm *replay.ARM
}

func (w *journalWriter) Patch(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	r, err := w.arm.Patch(ctx, id, body)
	if err == nil {
		err = w.record(ctx, http.MethodPatch, id, body)
	}
	return r, err
}

func (w *journalWriter) Put(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	r, err := w.arm.Put(ctx, id, body)
	if err == nil {
		err = w.record(ctx, http.MethodPut, id, body)
	}
	return r, err
}

func (w *journalWriter) Delete(ctx context.Context, id string) error {
	err := w.arm.Delete(ctx, id)
	if err == nil {
		err = w.record(ctx, http.MethodDelete, id, nil)
	}
	return err
}

// record journals a write with the states of what it touched (the resource,
// its parent, the scope of a tags write), synced, and may then kill the
// process: after ARM made the write, before exportguard recorded it.
func (w *journalWriter) record(ctx context.Context, method, id string, body []byte) error {
	ws := w.arm.Writes()
	e := journalEntry{Method: method, ID: id, Body: body, At: ws[len(ws)-1].At}
	touched := []string{id}
	if p := guard.ParentOf(id); p != "" {
		touched = append(touched, p)
	}
	const tags = "/providers/microsoft.resources/tags/default"
	if strings.HasSuffix(strings.ToLower(id), tags) {
		touched = append(touched, id[:len(id)-len(tags)])
	}
	for _, t := range touched {
		r, err := w.arm.ReadResource(ctx, t)
		switch {
		case errors.Is(err, guard.ErrNotFound):
			e.States = append(e.States, journalState{ID: t, Deleted: true})
		case errors.Is(err, guard.ErrUnknown):
			// Never seen (the Tags API's own ID): nothing to give back.
		case err != nil:
			return err
		default:
			e.States = append(e.States, journalState{ID: t, Body: r.Body})
		}
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.j.mu.Lock()
	defer w.j.mu.Unlock()
	f, err := os.OpenFile(w.j.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	w.j.writes++
	if !w.j.killAt.IsZero() && !e.At.Before(w.j.killAt) {
		die()
	}
	return nil
}

// ---------------------------------------------------------------------------
// The parent: targets that remember which process they heard from, kills.

// faultTarget is a loopback notification target that records, per request,
// which child process (generation) sent it.
type faultTarget struct {
	name string
	srv  *notifytest.Server
	mu   sync.Mutex
	gens []int // by request index
	// onPost, when set, runs before the answer (the parent kills the child there).
	onPost func(n int, body []byte)
}

type faultRun struct {
	gen     atomic.Int32
	targets []*faultTarget
}

func newFaultTargets(t *testing.T, fr *faultRun) (teams, slack, webhook *faultTarget) {
	t.Helper()
	tg := newTargets(t)
	for k, v := range tg.env() {
		t.Setenv(k, v) // for the child processes, which read them from their environment
	}
	mk := func(name string, s *notifytest.Server) *faultTarget {
		ft := &faultTarget{name: name, srv: s}
		s.SetRespond(func(n int, w http.ResponseWriter) {
			ft.mu.Lock()
			for len(ft.gens) < n {
				ft.gens = append(ft.gens, 0)
			}
			ft.gens[n-1] = int(fr.gen.Load())
			hook := ft.onPost
			ft.mu.Unlock()
			if hook != nil {
				hook(n, s.Requests()[n-1].Body)
			}
			w.WriteHeader(http.StatusOK)
		})
		fr.targets = append(fr.targets, ft)
		return ft
	}
	return mk("teams", tg.teams), mk("slack", tg.slack), mk("webhook", tg.webhook)
}

// entries are what one request to a target told, each a string naming one
// notification: the CloudEvent's ID (the outbox item's) for the webhook; the
// title, rule, resource and time of each card or digest entry for Teams and
// Slack.
func (ft *faultTarget) entries(t *testing.T, r notifytest.Request) []string {
	t.Helper()
	switch ft.name {
	case "webhook":
		var e event.Event
		if err := format.JSON.Unmarshal(r.Body, &e); err != nil {
			t.Fatalf("a webhook post is not a CloudEvent: %v", err)
		}
		return []string{e.ID() + " " + e.Type() + " " + e.Time().UTC().Format(time.RFC3339Nano)}
	case "teams":
		return toldTeams(t, []notifytest.Request{r})
	}
	return toldSlack(t, []notifytest.Request{r})
}

// told counts each entry the target was told, and returns, per generation,
// the entries of the last request of that generation.
func (ft *faultTarget) told(t *testing.T) (map[string]int, map[int][]string) {
	t.Helper()
	count := map[string]int{}
	last := map[int][]string{}
	ft.mu.Lock()
	gens := append([]int(nil), ft.gens...)
	ft.mu.Unlock()
	for i, r := range ft.srv.Requests() {
		es := ft.entries(t, r)
		for _, e := range es {
			count[e]++
		}
		if i < len(gens) {
			last[gens[i]] = es
		}
	}
	return count, last
}

// killSpec is one planned kill.
type killSpec struct {
	mode  string    // store, arm, post, async, or a Batch's kill point (killBeforeCommit, killAfterCommit)
	at    time.Time // where in the session (store, arm, post)
	after int       // store: writes after the first audit record at or after at
	delay time.Duration
}

func (k killSpec) String() string {
	switch k.mode {
	case "store":
		return fmt.Sprintf("store: %d write(s) after the first audit record at or after %s", k.after, k.at.Format(time.RFC3339))
	case "arm":
		return "arm: right after the first ARM write at or after " + k.at.Format(time.RFC3339)
	case "post":
		return "post: while the webhook holds the first event at or after " + k.at.Format(time.RFC3339)
	case killBeforeCommit, killAfterCommit:
		return k.mode + ": the first Batch with an audit record at or after " + k.at.Format(time.RFC3339)
	}
	return "async: SIGKILL from the parent after " + k.delay.Round(time.Millisecond).String()
}

// faultResult is what a replay, interrupted or not, left behind.
type faultResult struct {
	store, findings, journal string // store: its URL
	stats                    childStats
	killed                   []killSpec // kills that happened, in order
}

// startChild starts a child replay; done is closed when it has exited.
func startChild(t *testing.T, spec childSpec, stderr *bytes.Buffer) (*exec.Cmd, chan struct{}) {
	t.Helper()
	raw, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultsChildProcess$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), envFaultsChild+"="+string(raw))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return cmd, done
}

func killedBySIGKILL(cmd *exec.Cmd) bool {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// replayWithKills replays the session in child processes into one store,
// killing them as planned (each kill only once the one before it happened),
// and restarting, until a child runs to the end.
func replayWithKills(t *testing.T, fr *faultRun, dir, policyPath, session string, plan []killSpec, webhook *faultTarget) faultResult {
	t.Helper()
	return replayWithKillsInto(t, fr, "sqlite:"+filepath.Join(dir, "store.db"), dir, policyPath, session, plan, webhook)
}

// replayWithKillsInto is replayWithKills into the store at url.
func replayWithKillsInto(t *testing.T, fr *faultRun, url, dir, policyPath, session string, plan []killSpec, webhook *faultTarget) faultResult {
	t.Helper()
	res := faultResult{store: url, findings: filepath.Join(dir, "findings.json"), journal: filepath.Join(dir, "arm.journal")}
	statsPath := filepath.Join(dir, "stats.json")
	for i := 0; ; i++ {
		var k *killSpec
		if i < len(plan) {
			k = &plan[i]
		}
		spec := childSpec{Store: res.store, Policy: policyPath, Session: session, Journal: res.journal, Findings: res.findings, Stats: statsPath}
		fr.gen.Store(int32(i + 1))
		type running struct {
			cmd  *exec.Cmd
			done chan struct{}
		}
		var child atomic.Pointer[running]
		var postKilled atomic.Bool
		webhook.mu.Lock()
		webhook.onPost = nil
		if k != nil && k.mode == "post" {
			at := k.at
			webhook.onPost = func(_ int, body []byte) {
				var e event.Event
				if format.JSON.Unmarshal(body, &e) != nil || e.Time().Before(at) || postKilled.Load() {
					return
				}
				if c := child.Load(); c != nil {
					postKilled.Store(true)
					c.cmd.Process.Kill()
					<-c.done // dead before the answer: the sender never hears it
				}
			}
		}
		webhook.mu.Unlock()
		if k != nil {
			switch k.mode {
			case "store":
				spec.KillAtAudit, spec.KillAfterWrites = k.at, k.after
			case "arm":
				spec.KillAtARM = k.at
			case killBeforeCommit, killAfterCommit:
				spec.KillBatch, spec.KillBatchAt = k.mode, k.at
			}
		}
		var stderr bytes.Buffer
		cmd, done := startChild(t, spec, &stderr)
		child.Store(&running{cmd, done})
		if k != nil && k.mode == "async" {
			timer := time.AfterFunc(k.delay, func() { cmd.Process.Kill() })
			<-done
			timer.Stop()
		} else {
			<-done
		}
		switch {
		case killedBySIGKILL(cmd):
			if k == nil {
				t.Fatalf("child %d died of SIGKILL nobody planned\n%s", i+1, stderr.String())
			}
			res.killed = append(res.killed, *k)
			t.Logf("child %d killed (%s)", i+1, k)
			continue
		case !cmd.ProcessState.Success():
			t.Fatalf("child %d failed: %v\n%s", i+1, cmd.ProcessState, stderr.String())
		}
		if k != nil {
			t.Logf("child %d ran to the end before its kill (%s)", i+1, k)
		}
		raw, err := os.ReadFile(statsPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &res.stats); err != nil {
			t.Fatal(err)
		}
		if s := stderr.String(); strings.TrimSpace(s) != "" {
			t.Logf("child %d stderr:\n%s", i+1, s)
		}
		return res
	}
}

// auditOf reads the audit trail of the store at url.
func auditOf(t *testing.T, url string) []guard.AuditRecord {
	t.Helper()
	st, err := testApp().openStore(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := trailEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// transitionsOf counts each finding transition the trail records (finding,
// new status, time) and each remediation outcome per plan.
func transitionsOf(t *testing.T, recs []guard.AuditRecord) (transitions, outcomes map[string]int) {
	t.Helper()
	transitions, outcomes = map[string]int{}, map[string]int{}
	for _, r := range recs {
		switch {
		case strings.HasPrefix(r.Kind, "finding."):
			transitions[r.Subject+" "+r.Kind+" "+r.At.UTC().Format(time.RFC3339Nano)]++
		case strings.HasPrefix(r.Kind, "remediation.") && r.Kind != "remediation.applying" && r.Kind != "remediation.retry":
			var d struct{ PlanID string }
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			outcomes[d.PlanID+" "+r.Kind]++
		}
	}
	return transitions, outcomes
}

func journalWrites(t *testing.T, path string) map[string]int {
	t.Helper()
	es, err := readJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range es {
		out[e.Method+" "+e.ID+" "+string(e.Body)]++
	}
	return out
}

func outboxOf(t *testing.T, url string) []string {
	t.Helper()
	st, err := testApp().openStore(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	items, err := st.ListOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	poison, err := st.ListPoison(context.Background())
	if err != nil || len(poison) > 0 {
		t.Errorf("poison after the replay: %d record(s), %v", len(poison), err)
	}
	var out []string
	for _, it := range items {
		s := it.ID + " " + it.Kind
		if it.Failed {
			s += " failed: " + it.LastError
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func once[K comparable](m map[K]int) []K {
	var bad []K
	for k, n := range m {
		if n != 1 {
			bad = append(bad, k)
		}
	}
	return bad
}

func keys[K cmp.Ordered, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// planKills draws n kills, in increasing order through the session's time
// span (so that each lands after the one before: restarted children replay
// what was done again quickly, then go on), each of a mode drawn at random.
// Async kills come after a short delay (asyncDelay).
func planKills(rng *rand.Rand, n int, first, last time.Time, took time.Duration) []killSpec {
	span := last.Sub(first)
	ats := make([]time.Time, n)
	for i := range ats {
		ats[i] = first.Add(time.Duration(rng.Int64N(int64(span))))
	}
	slices.SortFunc(ats, func(a, b time.Time) int { return a.Compare(b) })
	modes := []string{"store", "store", "arm", "post", "async"}
	out := make([]killSpec, n)
	for i := range out {
		out[i] = killSpec{mode: modes[rng.IntN(len(modes))], at: ats[i], after: rng.IntN(40)}
		if out[i].mode == "async" {
			out[i].delay = asyncDelay(rng, took)
		}
	}
	// Every mode at least once, whatever the draw, when there is room.
	if n >= len(modes)-1 {
		for i, m := range []string{"store", "arm", "post", "async"} {
			if !slices.ContainsFunc(out, func(k killSpec) bool { return k.mode == m }) {
				j := (i * n) / 4
				out[j].mode = m
				if m == "async" {
					out[j].delay = asyncDelay(rng, took)
				}
			}
		}
	}
	return out
}

// asyncDelay draws the wait before a kill from outside: short, since a
// restarted child gets through what was done before quickly and might run to
// the end before a long one (and take the remaining kills with it).
func asyncDelay(rng *rand.Rand, took time.Duration) time.Duration {
	return 200*time.Millisecond + time.Duration(rng.Int64N(int64(max(took/8, time.Millisecond))))
}

// TestFaultKillReplay replays a large session (copies of remediation-auto:
// notifications to three loopback targets, remediation auto writing to the
// session's ARM) in a child process, kills it with SIGKILL at points drawn
// with a seed (between two store writes, right after an ARM write, while the
// webhook target holds a notification, or from outside after a random delay),
// restarts it on the same store until one runs to the end, and compares with
// an uninterrupted run:
//
//   - the findings, each once and as the uninterrupted run left them (but for
//     how a remediation found done after a kill between its ARM write and its
//     record is recorded: "written by an earlier attempt");
//   - the audit trail intact; every transition and remediation outcome
//     recorded, nothing else; each transition exactly once (a change is one
//     atomic unit of the store), a remediation outcome twice only across a
//     kill (at most one per kill: at least once is the price of never losing
//     one);
//   - the ARM writes, each exactly once;
//   - the notifications each target was told: every one, nothing else; one
//     told twice only when it was in the target's hands when a process died
//     (the last request that process made to it), the window no sender can
//     close: the target took it, exportguard died before remembering that.
//     A kill while the webhook holds an event shows it: the event is sent again;
//   - what is left in the outbox.
//
// Short: 30 copies (about 500 lines), 3 kills; full: 150 copies (about 2,600
// lines), 30 kills. EXPORTGUARD_FAULTS_SEED picks another draw,
// EXPORTGUARD_FAULTS_COPIES and EXPORTGUARD_FAULTS_KILLS another size, and
// EXPORTGUARD_FAULTS_KEEP=DIR keeps the killed run's store, journal and
// findings there.
func TestFaultKillReplay(t *testing.T) {
	copies := faultsScale(t, 30, 150)
	kills := faultsScale(t, 3, 30)
	if s := os.Getenv("EXPORTGUARD_FAULTS_COPIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("EXPORTGUARD_FAULTS_COPIES=%q: %v", s, err)
		}
		copies = n
	}
	if s := os.Getenv("EXPORTGUARD_FAULTS_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("EXPORTGUARD_FAULTS_KILLS=%q: %v", s, err)
		}
		kills = n
	}
	seed := uint64(8)
	if s := os.Getenv("EXPORTGUARD_FAULTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("EXPORTGUARD_FAULTS_SEED=%q: %v", s, err)
		}
		seed = n
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	session, lines := writeFaultSession(t, copies, 47*time.Second)
	s := policyOnly(remAuto)
	pol := sessionPolicy(t, s)
	t.Logf("seed %d: %d copies of remediation-auto, %d lines", seed, copies, lines)

	// The uninterrupted run.
	refRun := &faultRun{}
	_, _, refHook := newFaultTargets(t, refRun)
	refDir := t.TempDir()
	ref := replayWithKills(t, refRun, refDir, pol, session, nil, refHook)
	t.Logf("uninterrupted: %v, %d store writes, %d ARM writes", ref.stats.Took.Round(time.Millisecond), ref.stats.StoreWrites, ref.stats.ARMWrites)

	// The same wiring as the replay verb: its findings are the verb's (told
	// to targets of its own).
	verb, errOut, err := runApp(t, newTargets(t).app(), "replay", "--format", "json", "--policy", pol, session)
	if err != nil {
		t.Fatalf("replay verb: %v\n%s", err, errOut)
	}
	refFindings, err := os.ReadFile(ref.findings)
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(verb, string(refFindings)); d != "" {
		t.Fatalf("the child's replay differs from the replay verb's (-verb +child):\n%s", d)
	}
	if ref.stats.ARMWrites == 0 || !strings.Contains(verb, `"status":"applied"`) {
		t.Fatal("the session remediates nothing: the test proves nothing")
	}

	// Killed, restarted, killed again.
	first, last := sessionSpan(t, session)
	plan := planKills(rng, kills, first, last, ref.stats.Took)
	killedRun := &faultRun{}
	_, _, hook := newFaultTargets(t, killedRun)
	dir := t.TempDir()
	if keep := os.Getenv("EXPORTGUARD_FAULTS_KEEP"); keep != "" {
		dir = keep // a place to look at the store after a failure
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
	}
	started := time.Now()
	got := replayWithKills(t, killedRun, dir, pol, session, plan, hook)
	t.Logf("%d kill(s) of %d planned, then a run to the end: %v in all", len(got.killed), len(plan), time.Since(started).Round(time.Millisecond))
	if len(got.killed) == 0 {
		t.Fatal("no child was killed: the test proves nothing")
	}

	checkKilledReplay(t, ref, got, refRun, killedRun)
}

// checkKilledReplay compares a replay killed and restarted (got, its targets
// in killedRun) with the uninterrupted one (ref, refRun), as
// TestFaultKillReplay says.
func checkKilledReplay(t *testing.T, ref, got faultResult, refRun, killedRun *faultRun) {
	t.Helper()
	refFindings, err := os.ReadFile(ref.findings)
	if err != nil {
		t.Fatal(err)
	}
	refTargets := refRun.targets
	// Findings: every one, once, as the uninterrupted run left it; the one
	// difference allowed is how a remediation found done after a crash
	// between its ARM write and its record is recorded.
	gotFindings, err := os.ReadFile(got.findings)
	if err != nil {
		t.Fatal(err)
	}
	checkFindingLines(t, string(gotFindings))
	refNorm, gotNorm, recovered := normaliseRecovered(t, string(refFindings), string(gotFindings))
	if d := gocmp.Diff(refNorm, gotNorm); d != "" {
		t.Errorf("findings after the kills differ from the uninterrupted run's (-uninterrupted +killed):\n%s", d)
	}
	if len(recovered) > 0 {
		t.Logf("remediation found applied by an earlier attempt (the process died between the ARM write and its record): %v", recovered)
	}

	// The audit trail: intact; every transition and remediation outcome of
	// the uninterrupted run, and nothing else. A transition is recorded
	// exactly once: it is stored with its finding, its record and its outbox
	// items in one atomic unit, which a kill either finds committed or leaves
	// nothing of. A remediation outcome recorded twice is the price of never
	// losing one: a process that dies after the ARM write and before its record
	// has it found done (and recorded) again.
	if _, _, err := run(t, "audit", "verify", "--store", got.store); err != nil {
		t.Errorf("audit verify after the kills: %v", err)
	}
	refTrans, refOut := transitionsOf(t, auditOf(t, ref.store))
	gotTrans, gotOut := transitionsOf(t, auditOf(t, got.store))
	if d := gocmp.Diff(keys(refTrans), keys(gotTrans)); d != "" {
		t.Errorf("finding transitions recorded (-uninterrupted +killed):\n%s", d)
	}
	if d := gocmp.Diff(keys(refOut), keys(gotOut)); d != "" {
		t.Errorf("remediation outcomes recorded (-uninterrupted +killed):\n%s", d)
	}
	if twice := once(gotTrans); len(twice) > 0 {
		t.Errorf("transitions recorded more than once after %d kill(s), want none: %v", len(got.killed), twice)
	}
	for _, c := range []struct {
		what     string
		ref, got map[string]int
		perKill  bool // may be recorded twice across a kill
	}{{"transitions", refTrans, gotTrans, false}, {"remediation outcomes", refOut, gotOut, true}} {
		if bad := once(c.ref); len(bad) > 0 {
			t.Errorf("the uninterrupted run recorded %s more than once: %v", c.what, bad)
		}
		twice := once(c.got)
		slices.Sort(twice)
		if c.perKill && len(twice) > len(got.killed) {
			t.Errorf("%d %s recorded more than once after %d kill(s) (at most one per kill): %v", len(twice), c.what, len(got.killed), twice)
		}
		t.Logf("%d %s; recorded twice across a kill: %d %v", len(c.got), c.what, len(twice), twice)
	}

	// ARM: each write once.
	refWrites, gotWrites := journalWrites(t, ref.journal), journalWrites(t, got.journal)
	if d := gocmp.Diff(refWrites, gotWrites); d != "" {
		t.Errorf("ARM writes (-uninterrupted +killed):\n%s", d)
	}

	// What is left in the outbox (items not yet due, none failed).
	if d := gocmp.Diff(outboxOf(t, ref.store), outboxOf(t, got.store)); d != "" {
		t.Errorf("outbox left (-uninterrupted +killed):\n%s", d)
	}

	// Notifications.
	killedGen := map[int]killSpec{}
	for i, k := range got.killed {
		killedGen[i+1] = k
	}
	for i, ft := range killedRun.targets {
		refCount, _ := refTargets[i].told(t)
		if bad := once(refCount); len(bad) > 0 {
			t.Errorf("%s: the uninterrupted run told these more than once: %v", ft.name, bad)
		}
		count, lastOf := ft.told(t)
		if d := gocmp.Diff(keys(refCount), keys(count)); d != "" {
			t.Errorf("%s: notifications told (-uninterrupted +killed):\n%s", ft.name, d)
		}
		// A notification told twice must have been in the target's hands when
		// a process died: the last request that process made to it.
		inFlight := map[string]int{}
		for gen := range killedGen {
			for _, e := range lastOf[gen] {
				inFlight[e]++
			}
		}
		var dups []string
		for e, n := range count {
			if n == 1 {
				continue
			}
			dups = append(dups, e)
			if n-1 > inFlight[e] {
				t.Errorf("%s: %q told %d times, but only %d process(es) died while it was in flight", ft.name, e, n, inFlight[e])
			}
		}
		sort.Strings(dups)
		t.Logf("%s: %d notification(s), %d request(s); told twice (in flight at a kill): %d %v", ft.name, len(count), ft.srv.Count(), len(dups), dups)
	}
	// A kill while the webhook holds an event: it is sent again (at least
	// once: exportguard cannot know the target took it).
	webhookCount, webhookLast := killedRun.targets[2].told(t)
	for gen, k := range killedGen {
		if k.mode != "post" {
			continue
		}
		for _, e := range webhookLast[gen] {
			if webhookCount[e] < 2 {
				t.Errorf("webhook: %q was in flight when child %d was killed, yet not sent again (%d)", e, gen, webhookCount[e])
			}
		}
	}
}

// policyOnly is a session value naming only a policy (for sessionPolicy).
func policyOnly(policyPath string) sessionCase { return sessionCase{policy: policyPath} }

// recoveredReason is what the remediation executor records when it finds its
// write made by an earlier attempt that died before recording it.
const recoveredReason = "written by an earlier attempt; the resource is in the desired state"

// normaliseRecovered takes, for each finding whose remediation was found
// applied after a crash (recoveredReason, no steps written by that attempt),
// the uninterrupted run's record of the same plan (the steps written, no
// reason) when everything else in it is the same, and returns the findings so
// rewritten and their resources.
func normaliseRecovered(t *testing.T, ref, got string) (refOut, gotOut string, recovered []string) {
	t.Helper()
	byID := map[string]guard.Finding{}
	var refs []guard.Finding
	for _, l := range strings.Split(strings.TrimSpace(ref), "\n") {
		var f guard.Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatal(err)
		}
		byID[f.ID] = f
		refs = append(refs, f)
	}
	var fs []guard.Finding
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		var f guard.Finding
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatal(err)
		}
		rec, _ := f.Evidence["remediation"].(map[string]any)
		want, _ := byID[f.ID].Evidence["remediation"].(map[string]any)
		if rec != nil && want != nil && rec["reason"] == recoveredReason && rec["steps"] == nil {
			same := true
			for _, k := range []string{"action", "at", "outcome", "planId"} {
				same = same && rec[k] == want[k]
			}
			if same {
				f.Evidence["remediation"] = want
				recovered = append(recovered, lastSeg(f.ResourceID))
			}
		}
		fs = append(fs, f)
	}
	// Both through the same decoding and encoding, so that only content differs.
	var a, b bytes.Buffer
	if err := printJSON(&a, refs); err != nil {
		t.Fatal(err)
	}
	if err := printJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String(), recovered
}

// sessionSpan is the time of a session's first and last event lines.
func sessionSpan(t *testing.T, path string) (first, last time.Time) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, session.MaxLineBytes)
	for sc.Scan() {
		l, err := session.Parse(sc.Bytes())
		if err != nil || l.Source == session.SourceClock || l.Source == session.SourceARM {
			continue
		}
		if first.IsZero() {
			first = l.At
		}
		last = l.At
	}
	return first, last
}
