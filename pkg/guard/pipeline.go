package guard

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Pipeline turns deliveries into findings: decode, ledger, state, rules, findings,
// audit (DESIGN 1). The Functions handler and replay drive the same pipeline; only
// the clock and the ResourceReader differ.
//
// Its parts, by file: ingest.go takes a delivery (decode, prefetch, the
// delivery's Batch); change_unit.go handles one change as one atomic unit of
// the store; judge.go finds a resource's state and runs the rules over it;
// transition.go moves findings through their states and plans what follows;
// audit_record.go writes the one audit record of a change; sweep.go and
// seal_write.go are the timer's work.
type Pipeline struct {
	Store    Store
	Reader   ResourceReader
	Policy   *Policy
	Rules    []Rule
	Decoders map[Source]Decoder
	Log      *slog.Logger
	// Planners turn finding transitions into outbox items (notifications,
	// remediation plans); Dispatcher, when set, delivers what is due at the end
	// of every delivery and sweep.
	Planners   []Planner
	Dispatcher *Dispatcher
	// ReadConcurrency is how many ARM reads a delivery makes at once before it
	// is stored (prefetch); 0 or 1 reads one at a time. Set it only with a
	// Reader that is safe for concurrent use.
	ReadConcurrency int

	heardAt *heardMemo // when this process last kept that it heard from each subscription (silence.go)
}

func (p *Pipeline) log() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// dispatch delivers what the outbox holds that is due.
func (p *Pipeline) dispatch(ctx context.Context, now time.Time) error {
	if p.Dispatcher == nil {
		return nil
	}
	_, err := p.Dispatcher.Run(ctx, now)
	return err
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
