package functions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Ingester is what the handler needs from the pipeline.
//
// An error means a transient or infrastructure failure (the store is down): the
// handler then fails the invocation so that the host's retry policy runs. Bad input
// is not an error: the pipeline keeps it as poison and says so in the Summary.
type Ingester interface {
	Ingest(ctx context.Context, src guard.Source, body []byte, now time.Time) (guard.Summary, error)
	Sweep(ctx context.Context, now time.Time) (guard.Summary, error)
}

// BatchIngester is an Ingester that takes an Event Hubs batch's message bodies
// together (guard.Pipeline.IngestAll): on the embedded store one transaction
// for the whole batch, stored whole or not at all.
type BatchIngester interface {
	IngestAll(ctx context.Context, src guard.Source, bodies [][]byte, now time.Time) (guard.Summary, error)
}

// PoisonKeeper is an Ingester that keeps input it will not read as poison,
// with the reason (guard.Pipeline.KeepPoison): the handler gives it the
// message bodies of a batch that are over MaxMessageBytes, unread.
type PoisonKeeper interface {
	KeepPoison(ctx context.Context, src guard.Source, reason string, body []byte, now time.Time) error
}

// Options configures NewHandler. Only Ingester is required.
type Options struct {
	Ingester Ingester
	// Ready is an optional readiness check (the store is reachable), used by the
	// health function. Nil means always ready.
	Ready func(ctx context.Context) error
	// Now is the clock handed to the pipeline; nil means time.Now.
	Now func() time.Time
	// APIAuth is who the api and dashboard functions believe (authz.go); the
	// zero value refuses every call to them.
	APIAuth APIAuth
	// Logger receives one structured line per invocation; nil means slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds an invocation's request body: BodyLimit of the
	// host.json batch size. 0 or less means BodyLimit(8). It is lowered to
	// what MaxInFlightBytes can hold.
	MaxBodyBytes int64
	// MaxInFlightBytes bounds the memory the invocations running at once may
	// cost, counted as BodyCost bytes per byte of their request bodies: an
	// invocation whose body does not fit waits (until the host gives up on
	// it) for others to finish. 0 or less means DefaultInFlightBytes.
	MaxInFlightBytes int64
	// Delivered, when set, is called after each invocation that succeeded
	// (serve pokes its delivery worker: what the invocation put in the
	// outbox is delivered beside it, never inside it).
	Delivered func()
}

// Memory. An invocation holds its request body, the envelope decoded from it
// (Data's values), the batch's text unescaped once, the message bodies and
// what the pipeline decodes from them, and not all of it is garbage at once.
// BodyCost bytes per body byte covers that, with the collector held to the
// process's memory limit (serve sets it): TestFaultBodiesMemory measures a
// process given the largest bodies at once.
const (
	BodyCost             = 4
	DefaultInFlightBytes = 256 << 20
)

// Function names (names.go). The binding names are those the function.json
// files declare.
const (
	fnActivityLog    = FunctionActivityLog
	fnResourceEvents = FunctionResourceEvents
	fnSweep          = FunctionSweep
	fnHealth         = FunctionHealth

	bindEvents = "events"
	bindEvent  = "event"
	bindTimer  = "timer"
	bindReq    = "req"
	bindRes    = "res"
)

const readyTimeout = 5 * time.Second

// NewHandler returns the custom handler: GET / for the host's readiness probe, one
// POST route per function, and GET /health for a person. It panics when
// opts.Ingester is nil, which is a wiring mistake.
func NewHandler(opts Options) http.Handler {
	if opts.Ingester == nil {
		panic("functions: NewHandler needs an Ingester")
	}
	h := &handler{
		ing:   opts.Ingester,
		ready: opts.Ready,
		now:   opts.Now,
		auth:  opts.APIAuth,
		log:   opts.Logger,
		max:   opts.MaxBodyBytes,
		done:  opts.Delivered,
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.max <= 0 {
		h.max = BodyLimit(8)
	}
	budget := opts.MaxInFlightBytes
	if budget <= 0 {
		budget = DefaultInFlightBytes
	}
	h.max = min(h.max, budget/BodyCost)
	h.gate = semaphore.NewWeighted(budget)
	h.functions = map[string]invokeFunc{
		fnActivityLog:    h.activityLog,
		fnResourceEvents: h.resourceEvents,
		fnSweep:          h.sweep,
		fnReconcile:      h.reconcile,
		fnHealth:         h.healthInvocation,
		fnAPI:            h.api,
		fnDashboard:      h.api, // the same code as the api function: dashboard.go
		fnEventGrid:      h.eventGrid,
	}
	return h
}

type handler struct {
	ing       Ingester
	ready     func(context.Context) error
	now       func() time.Time
	auth      APIAuth
	log       *slog.Logger
	max       int64
	gate      *semaphore.Weighted // bytes in flight, BodyCost per body byte
	done      func()
	functions map[string]invokeFunc
}

// invokeFunc runs one function on a decoded invocation. An error fails the
// invocation: a *requestError with its status, anything else with 500.
type invokeFunc func(ctx context.Context, inv invocation, log *slog.Logger) (result, error)

// result is what a function made of its invocation.
type result struct {
	outputs map[string]any
	logs    []string
	// quiet: the invocation put nothing in the outbox (no finding moved), so
	// Delivered is not called: on Cosmos DB asking for due items is a query
	// across partitions, one request per delivery; the worker's own ticker
	// still retries what is due.
	quiet bool
	// summary is what the pipeline did, answered as the response's Summary
	// (nil: none, for the functions that do not ingest).
	summary *InvocationSummary
}

// requestError is an invocation the handler cannot run because of the request.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// invocationResponse is the body the host reads back (§2.2). Outputs keys must be
// output binding names; Logs land in the invocation's log; ReturnValue is unused.
// Summary is for a caller standing in for the host (replay --via), which reads
// it instead of the Logs' text. The host ignores it: it reads the body into
// HttpScriptInvocationResult, whose only members are Outputs, Logs and
// ReturnValue, with Newtonsoft's default of ignoring members it does not know,
// and takes from Outputs only the declared output bindings' names
// (azure-functions-host src/WebJobs.Script/Workers/Http/HttpScriptInvocationResult.cs
// and HttpScriptInvocationResultExtensions.cs, ToScriptInvocationResult).
type invocationResponse struct {
	Outputs     map[string]any     `json:"Outputs"`
	Logs        []string           `json:"Logs"`
	ReturnValue any                `json:"ReturnValue"`
	Summary     *InvocationSummary `json:"Summary,omitempty"`
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := &trackingWriter{ResponseWriter: rw}
	defer h.recoverPanic(w, r)

	name := strings.ToLower(strings.TrimPrefix(r.URL.Path, "/"))
	switch {
	case name == "":
		// The host polls GET / until anything answers (§1.1); answer at once.
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, http.MethodGet, http.MethodHead)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "up"})
	case name == fnHealth && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.healthDirect(w, r)
	default:
		fn, ok := h.functions[name]
		if !ok {
			writeError(w, http.StatusNotFound, "no function here: the handler serves /activitylog, /resourceevents, /sweep and /health")
			return
		}
		if r.Method != http.MethodPost {
			if name == fnHealth {
				methodNotAllowed(w, http.MethodGet, http.MethodHead, http.MethodPost)
			} else {
				methodNotAllowed(w, http.MethodPost)
			}
			return
		}
		h.invoke(w, r, name, fn)
	}
}

// invoke reads and decodes the envelope, runs fn and writes the answer the host
// expects: 200 with the result, or a non-2xx that fails the invocation.
func (h *handler) invoke(w http.ResponseWriter, r *http.Request, name string, fn invokeFunc) {
	start := time.Now()
	log := h.log.With(slog.String("function", name),
		slog.String("invocationId", clip(r.Header.Get("X-Azure-Functions-InvocationId"), 64)))

	body, release, status, err := h.readBody(w, r, log)
	if err != nil {
		// Refusing a batch fails it on every retry, and Event Hubs then checkpoints
		// past it: an oversized body is lost data, so it is logged as an error.
		level := slog.LevelWarn
		if status == http.StatusRequestEntityTooLarge {
			level = slog.LevelError
		}
		log.Log(r.Context(), level, "invocation refused", slog.Int("status", status), slog.String("error", err.Error()))
		writeError(w, status, err.Error())
		return
	}
	defer release()
	inv, err := decodeInvocation(body)
	body = nil // garbage once decoded: decodeInvocation copies what it keeps
	if err != nil {
		log.Warn("invocation refused", slog.Int("status", http.StatusBadRequest), slog.String("error", err.Error()))
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if m := inv.meta(); m.partition != "" || m.retries {
		attrs := []any{}
		if m.partition != "" {
			attrs = append(attrs, slog.String("partition", m.partition))
		}
		if m.retries {
			attrs = append(attrs, slog.Int("retryCount", m.retryCount))
		}
		log = log.With(attrs...)
	}

	res, err := fn(r.Context(), inv, log)
	if err != nil {
		if re, ok := errors.AsType[*requestError](err); ok {
			log.Warn("invocation refused", slog.Int("status", re.status), slog.String("error", re.msg))
			writeError(w, re.status, re.msg)
			return
		}
		// The detail went to the log where it happened; the host gets a short,
		// fixed reason (no store URLs, no secrets) and retries.
		log.Error("invocation failed", slog.Duration("took", time.Since(start)))
		writeError(w, http.StatusInternalServerError, name+": the pipeline could not finish; the host will retry")
		return
	}
	if res.outputs == nil {
		res.outputs = map[string]any{}
	}
	if res.logs == nil {
		res.logs = []string{}
	}
	writeJSON(w, http.StatusOK, invocationResponse{Outputs: res.outputs, Logs: res.logs, Summary: res.summary})
	if h.done != nil && !res.quiet {
		h.done()
	}
}

// readBody reads the whole body, at most h.max bytes of it, once the gate lets
// it in: before reading it reserves BodyCost times what the body may be (its
// Content-Length, else h.max), and once it is read keeps BodyCost times what it
// is. release gives that back; the caller calls it when the invocation is done.
// An invocation that waits for the gate waits with the request's context: the
// host's functionTimeout, or the host closing the connection, ends the wait
// (503), and the host's retry policy applies as to any failed invocation.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, log *slog.Logger) (body []byte, release func(), status int, err error) {
	tooLarge := fmt.Errorf("request body over the %d-byte limit", h.max)
	if r.ContentLength > h.max {
		return nil, nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	want := h.max
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	held := want * BodyCost
	if !h.gate.TryAcquire(held) {
		log.Info("invocation waits for memory: others hold the bytes it may need", slog.Int64("bytes", want))
		if err := h.gate.Acquire(r.Context(), held); err != nil {
			return nil, nil, http.StatusServiceUnavailable, errors.New("gave up waiting for memory held by other invocations; the host will retry")
		}
	}
	body, err = readAll(http.MaxBytesReader(w, r.Body, h.max), r.ContentLength)
	if err != nil {
		h.gate.Release(held)
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, nil, http.StatusBadRequest, errors.New("could not read the request body")
	}
	if keep := int64(len(body)) * BodyCost; keep < held {
		h.gate.Release(held - keep)
		held = keep
	}
	return body, func() { h.gate.Release(held) }, 0, nil
}

// readAll is io.ReadAll into a buffer of the size announced, when it is.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size < 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1) // +1: the read that finds the end
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow as io.ReadAll does
		}
	}
}

// activityLog runs an Event Hubs batch. A BatchIngester takes the bodies in one
// call; another Ingester gets one Ingest each, even when an earlier one failed.
// Either way a body the store chokes on does not keep the rest of the batch
// from being processed in this attempt: Event Hubs checkpoints the batch after
// the last retry whatever happens (§7), so each attempt should do as much as it
// can.
func (h *handler) activityLog(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	raw, ok := inv.data(bindEvents)
	if !ok {
		return result{}, &requestError{http.StatusBadRequest, "the invocation has no Data.events"}
	}
	var logs []string
	bodies, over, whole, err := messageBodies(raw)
	if err != nil {
		// Not a batch at all. The pipeline has a poison store for input it cannot
		// read, but this never reached its decoder, so hand the text over as one
		// body: the decoder rejects it and the pipeline keeps it with the reason,
		// instead of it vanishing with a log line when the batch is checkpointed.
		log.Warn("Data.events is not an array of message bodies; passing it whole to the pipeline",
			slog.String("reason", err.Error()), slog.Int("bytes", len(whole)))
		logs = append(logs, fmt.Sprintf("%s: Data.events is not an array of message bodies (%v); passed whole to the pipeline", fnActivityLog, err))
		bodies = [][]byte{whole}
	}

	now := h.now()
	kept := 0
	for _, o := range over {
		// Over Event Hubs' message limit: not unescaped, not decoded. Kept
		// (its start, as the host sent it) with the reason; the rest of the
		// batch goes on.
		reason := fmt.Sprintf("message body %d of the batch is %d bytes, over Event Hubs' %d-byte message limit; kept as the host sent it (escaped), not read",
			o.index+1, o.size, MaxMessageBytes)
		log.Warn("message body over the message limit", slog.Int("body", o.index), slog.Int("bytes", o.size))
		logs = append(logs, fnActivityLog+": "+reason)
		keeper, ok := h.ing.(PoisonKeeper)
		if !ok {
			continue
		}
		if err := keeper.KeepPoison(ctx, guard.SourceEventHub, reason, o.raw, now); err != nil {
			log.Error("keeping an oversized message body failed", slog.String("error", err.Error()))
			return result{}, fmt.Errorf("an oversized message body could not be kept: %w", err)
		}
		kept++
	}
	if all, ok := h.ing.(BatchIngester); ok {
		if err := ctx.Err(); err != nil {
			log.Error("invocation cancelled", slog.Int("unprocessed", len(bodies)), slog.String("error", err.Error()))
			return result{}, fmt.Errorf("%d of %d message bodies failed: %w", len(bodies), len(bodies), err)
		}
		sum, err := all.IngestAll(ctx, guard.SourceEventHub, bodies, now)
		if err != nil {
			log.Error("ingest failed", slog.Int("bodies", len(bodies)), slog.String("error", err.Error()))
			return result{}, fmt.Errorf("not every one of %d message bodies was stored (see the log)", len(bodies))
		}
		log.Info("invocation done", slog.Int("bodies", len(bodies)), slog.Int("failed", 0), slog.Any("summary", sum))
		logs = append(logs, fmt.Sprintf("%s: %d message bodies: %s", fnActivityLog, len(bodies), summaryLine(sum)))
		return result{logs: logs, quiet: sum.Transitions == 0, summary: summaryOf(sum, kept)}, nil
	}
	var sum guard.Summary
	failed := 0
	for i, b := range bodies {
		if ctx.Err() != nil {
			// The host gave up on this invocation or is shutting down.
			failed += len(bodies) - i
			log.Error("invocation cancelled", slog.Int("unprocessed", len(bodies)-i), slog.String("error", ctx.Err().Error()))
			break
		}
		s, err := h.ing.Ingest(ctx, guard.SourceEventHub, b, now)
		sum.Add(s)
		if err != nil {
			failed++
			log.Error("ingest failed", slog.Int("body", i), slog.String("error", err.Error()))
		}
	}
	log.Info("invocation done", slog.Int("bodies", len(bodies)), slog.Int("failed", failed), slog.Any("summary", sum))
	if failed > 0 {
		return result{}, fmt.Errorf("%d of %d message bodies failed", failed, len(bodies))
	}
	logs = append(logs, fmt.Sprintf("%s: %d message bodies: %s", fnActivityLog, len(bodies), summaryLine(sum)))
	return result{logs: logs, quiet: sum.Transitions == 0, summary: summaryOf(sum, kept)}, nil
}

// resourceEvents runs one Event Grid delivery (an event, or an array of them).
func (h *handler) resourceEvents(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	raw, ok := inv.data(bindEvent)
	if !ok {
		return result{}, &requestError{http.StatusBadRequest, "the invocation has no Data.event"}
	}
	var logs []string
	event, ok := eventJSON(raw)
	if !ok {
		// As for Event Hubs: the pipeline's decoder rejects it and keeps it.
		log.Warn("Data.event is not a JSON event; passing it to the pipeline as it is", slog.Int("bytes", len(event)))
		logs = append(logs, fnResourceEvents+": Data.event is not a JSON event; passed to the pipeline as it is")
	}
	sum, err := h.ing.Ingest(ctx, guard.SourceEventGrid, event, h.now())
	if err != nil {
		log.Error("ingest failed", slog.String("error", err.Error()))
		return result{}, err
	}
	log.Info("invocation done", slog.Any("summary", sum))
	logs = append(logs, fmt.Sprintf("%s: %s", fnResourceEvents, summaryLine(sum)))
	return result{logs: logs, quiet: sum.Transitions == 0, summary: summaryOf(sum, 0)}, nil
}

// sweep runs the timer function. The timer value is only logged: a sweep is due
// whether or not the tick is late.
func (h *handler) sweep(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	var ti timerInfo
	if raw, ok := inv.data(bindTimer); ok {
		ti = parseTimer(raw)
	}
	sum, err := h.ing.Sweep(ctx, h.now())
	if err != nil {
		log.Error("sweep failed", slog.Bool("pastDue", ti.IsPastDue), slog.String("error", err.Error()))
		return result{}, err
	}
	log.Info("invocation done", slog.Bool("pastDue", ti.IsPastDue), slog.Any("summary", sum))
	line := fmt.Sprintf("%s: %s", fnSweep, summaryLine(sum))
	if ti.IsPastDue {
		line += " (tick past due)"
	}
	return result{logs: []string{line}, summary: summaryOf(sum, 0)}, nil
}

// summaryLine is the one-line form of a summary for the invocation log.
func summaryLine(s guard.Summary) string {
	return fmt.Sprintf("%d changes, %d duplicates, %d skipped, %d rejected, %d ignored, %d verdicts, %d transitions",
		s.Changes, s.Duplicates, s.Skipped, s.Rejected, s.Ignored, s.Verdicts, s.Transitions)
}

// clip shortens a header value for the log.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// recoverPanic is the last resort: decoding is defensive, but a panic in the
// pipeline must not take the handler (and every other invocation) down with it.
func (h *handler) recoverPanic(w *trackingWriter, r *http.Request) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	h.log.Error("panic serving the host", slog.String("path", clip(r.URL.Path, 64)),
		slog.String("invocationId", clip(r.Header.Get("X-Azure-Functions-InvocationId"), 64)),
		slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	if !w.wrote {
		writeError(w, http.StatusInternalServerError, "internal error; the host will retry")
	}
}

// trackingWriter remembers whether anything was written, so that recoverPanic
// does not write a second status line.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
