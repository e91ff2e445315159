package guard

import (
	"context"
	"log/slog"
	"time"
)

// DispatchWorker runs a Dispatcher beside the invocations instead of inside
// them (serve): an invocation commits what it planned to the outbox, answers,
// and pokes the worker, which delivers. A target that is slow, or asks to wait,
// then delays nobody's answer. The worker also runs on a ticker, for retries
// that come due and for items a stopped process left, and once when it starts.
//
// One worker per process is the only dispatcher there (the pipeline's own
// Dispatcher stays nil), so no two runs in the process hand an item to a
// sender at once. Across processes (instances scaled out over one store) the
// senders' idempotency is what holds: a notification sender looks the item up
// in the ledger before it posts, the remediation executor re-reads the finding.
type DispatchWorker struct {
	d     *Dispatcher
	now   func() time.Time
	every time.Duration
	log   *slog.Logger
	poke  chan struct{}
}

// NewDispatchWorker returns a worker for d on the clock now, running every
// every (30s when 0) and whenever poked.
func NewDispatchWorker(d *Dispatcher, now func() time.Time, every time.Duration, log *slog.Logger) *DispatchWorker {
	if now == nil {
		now = time.Now
	}
	if every <= 0 {
		every = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &DispatchWorker{d: d, now: now, every: every, log: log, poke: make(chan struct{}, 1)}
}

// Poke asks for a run soon; it never blocks. Pokes while a run is pending fold
// into it.
func (w *DispatchWorker) Poke() {
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// maxRounds bounds the runs one wake-up makes while each finds a full batch.
const maxRounds = 10

// Run delivers until ctx is done. A send cut off by ctx leaves its item in the
// outbox, due as before (Dispatcher.Run).
func (w *DispatchWorker) Run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for {
		w.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-w.poke:
		case <-t.C:
		}
	}
}

// round runs the dispatcher until the items due are handled: again while a
// run delivered or gave up on something (a sender may have enqueued more: a
// remediation's outcome is told) or took a full batch, at most maxRounds
// times. Items put back for a retry are not due again before the next tick.
func (w *DispatchWorker) round(ctx context.Context) {
	batch := w.d.Batch
	if batch <= 0 {
		batch = 100
	}
	for range maxRounds {
		if ctx.Err() != nil {
			return
		}
		sum, err := w.d.Run(ctx, w.now())
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("delivery from the outbox failed; tried again at the next tick", "error", err.Error())
			}
			return
		}
		if sum.Delivered+sum.Failed == 0 && sum.Retried < batch {
			return
		}
	}
}
