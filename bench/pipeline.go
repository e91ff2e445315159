// Package bench measures exportguard's pipeline on generated workloads (see
// package workload): throughput, latency per batch, memory, against a plain
// encoding/json decode of the same bytes and against the same rules written in
// Rego and evaluated by Open Policy Agent. cmd/egbench is the driver `make
// bench` runs; bench_test.go has the Go benchmarks of the hot paths.
//
// This is a module of its own so that OPA stays out of the product's go.mod.
package bench

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/exportguard/exportguard/bench/memstore"
	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/activitylog"
	"github.com/exportguard/exportguard/pkg/eventgrid"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/remediate"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/rules"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// LedgerWindow is the baseline store's dedup window (see memstore).
const LedgerWindow = 16384

// Clock is the benchmark's clock: the time of the delivery in hand. The
// pipeline, the handler and the replayed ARM all read it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *Clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Env is one pipeline under test with what it runs on.
type Env struct {
	Store    guard.Store
	Pipeline *guard.Pipeline
	Clock    *Clock
	ARM      *replay.ARM
	Log      *slog.Logger
	StoreURL string         // how the table names the store
	Counts   *CountingStore // the store's calls, on the embedded store
}

// Logger is what serve logs with (JSON at info level, newLogger in internal/cli/wiring.go),
// written to io.Discard: the cost of building each line is measured, the
// cost of a terminal is not.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// NewPipeline wires the centre as internal/cli/wiring.go's newPipeline does
// (internal, so this module cannot import it): every rule, the Activity Log and Event Grid
// decoders, and the remediation planner and executor behind a dispatcher. The
// default policy names no notification target, so newPipeline would add no
// notification planner either.
func NewPipeline(st guard.Store, reader guard.ResourceReader, pol *guard.Policy, log *slog.Logger) *guard.Pipeline {
	return &guard.Pipeline{
		Store:  st,
		Reader: reader,
		Policy: pol,
		Rules:  rules.All(),
		Decoders: map[guard.Source]guard.Decoder{
			guard.SourceEventHub:  activitylog.Decode,
			guard.SourceEventGrid: eventgrid.Decode,
		},
		Log:             log,
		ReadConcurrency: 4, // as newPipeline sets it
		Planners:        []guard.Planner{&remediate.Planner{Store: st, Policy: pol, Log: log}},
		Dispatcher: &guard.Dispatcher{Outbox: st, Log: log, Senders: map[string]guard.Sender{
			remediate.Kind: &remediate.Executor{Store: st, Policy: pol, Reader: reader, Log: log}}},
	}
}

// StoreKind names a store to run on.
type StoreKind string

const (
	StoreNone       StoreKind = "none"        // memstore: the baseline
	StoreSQLiteFile StoreKind = "sqlite-file" // the embedded store in a file (as serve runs it)
	StoreSQLiteMem  StoreKind = "sqlite-mem"  // the embedded store in memory (sqlite.Memory)
)

// NewEnv builds a pipeline on a fresh store of the kind asked for, reading the
// universe's ARM bodies through a replayed ARM. dir holds a file store.
func NewEnv(ctx context.Context, u *workload.Universe, kind StoreKind, dir string) (*Env, error) {
	e := &Env{Clock: &Clock{}, Log: Logger()}
	e.Clock.Set(workload.Start)
	e.ARM = replay.NewARM(e.Clock.Now)
	u.Observe(e.ARM)
	switch kind {
	case StoreNone:
		e.Store, e.StoreURL = memstore.New(LedgerWindow), "memstore (bench baseline)"
	case StoreSQLiteMem:
		st, err := sqlite.Open(ctx, sqlite.Memory)
		if err != nil {
			return nil, err
		}
		e.Store, e.StoreURL = st, "sqlite::memory:"
	case StoreSQLiteFile:
		path := dir + "/bench.db"
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		e.Store, e.StoreURL = st, "sqlite:"+path
	}
	if kind != StoreNone { // count the embedded store's transactions
		e.Counts = &CountingStore{Store: e.Store}
		e.Store = e.Counts
	}
	e.Pipeline = NewPipeline(e.Store, e.ARM, policyfile.Default(), e.Log)
	return e, nil
}

// Close closes the store.
func (e *Env) Close() error { return e.Store.Close() }

// Judge runs the rules the pipeline would run on a resource (enabled, applying
// to its type) and returns their verdicts. None of the workload's types has a
// Gatherer or a DependentRule, and the previous state changes only the wording
// of a verdict, so this is the pipeline's judge step without the store.
func Judge(pol *guard.Policy, rs []guard.Rule, res *guard.Resource, now time.Time) []guard.Verdict {
	in := guard.Input{Policy: pol, Resource: res, Now: now}
	var out []guard.Verdict
	for _, r := range rs {
		if pol.RuleMode(r.ID()) == guard.ModeOff || !r.Applies(res.Type) {
			continue
		}
		out = append(out, r.Evaluate(in)...)
	}
	return out
}
