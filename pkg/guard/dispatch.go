package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/exportguard/exportguard/internal/retry"
)

// Sender delivers one outbox item: a notification to Teams, Slack or a webhook,
// or a remediation through ARM. It must be idempotent on the item's ID: after a
// crash an item may be sent again.
type Sender interface {
	Send(ctx context.Context, it OutboxItem, now time.Time) error
}

// SenderFunc adapts a function to a Sender.
type SenderFunc func(ctx context.Context, it OutboxItem, now time.Time) error

func (f SenderFunc) Send(ctx context.Context, it OutboxItem, now time.Time) error {
	return f(ctx, it, now)
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks an error that trying again cannot fix (a 400 from a webhook, a
// remediation the resource no longer needs): the item is failed at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e retryAfterError) Error() string { return e.err.Error() }
func (e retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks an error with the wait the other side asked for (429 or 503
// with Retry-After): the next attempt is not sooner than that.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return retryAfterError{err, d}
}

// Dispatcher delivers what the outbox holds when it is due, retrying failures
// with backoff until MaxAttempts, after which the item is kept as failed with
// its reason. One target failing never blocks the others.
type Dispatcher struct {
	Outbox      Outbox
	Senders     map[string]Sender // by OutboxItem.Kind
	MaxAttempts int               // attempts before an item is failed; 6 when 0
	// Backoff is the wait before the given retry (1 for the first); 30s doubling,
	// at most 30m, when nil.
	Backoff func(retry int) time.Duration
	Batch   int // items taken per Run; 100 when 0
	// Lease is how long an item claimed for sending (Outbox.Claim) is kept
	// from the other instances dispatching the same outbox; if this one dies
	// before it completes, retries or fails the item, the item is due again
	// when the lease ends. Longer than a send may take (the senders' HTTP
	// timeout is 30s); DefaultLease when 0. Negative: nothing is claimed,
	// for an outbox one process alone dispatches on a clock that jumps
	// (replay), where a claim would only hold an item past its next tick.
	Lease time.Duration
	Log   *slog.Logger
}

// DefaultLease is the Dispatcher's Lease when none is set: four times the
// senders' 30s HTTP timeout.
const DefaultLease = 2 * time.Minute

// Folder is a Sender that may deliver other due items with the one it is
// given (a digest of a burst): it claims and completes them itself, and
// Folded says which it delivered that way, so that Run counts them delivered.
type Folder interface {
	Folded(id string) bool
}

// DispatchSummary counts what one Run did. Skipped counts the due items
// another instance claimed first.
type DispatchSummary struct {
	Delivered, Retried, Failed, Skipped int
}

func (d *Dispatcher) backoff(n int) time.Duration {
	if d.Backoff != nil {
		return d.Backoff(n)
	}
	return retry.Exponential(30*time.Second, 30*time.Minute, n)
}

// Run delivers every item due at now, once each. An error is returned only when
// the outbox itself fails.
func (d *Dispatcher) Run(ctx context.Context, now time.Time) (DispatchSummary, error) {
	var sum DispatchSummary
	if d == nil {
		return sum, nil
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	batch, maxAttempts := d.Batch, d.MaxAttempts
	if batch <= 0 {
		batch = 100
	}
	if maxAttempts <= 0 {
		maxAttempts = 6
	}
	lease, claims := d.Lease, d.Lease >= 0
	if lease <= 0 {
		lease = DefaultLease
	}
	items, err := d.Outbox.DueItems(ctx, now, batch)
	if err != nil {
		return sum, fmt.Errorf("dispatch: list due items: %w", err)
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return sum, err
		}
		until, won := now.Add(lease), true
		if claims {
			if won, err = d.Outbox.Claim(ctx, it.Partition, it.ID, it.NextAttempt, until); err != nil {
				return sum, fmt.Errorf("dispatch: claim %s: %w", it.ID, err)
			}
		}
		s, ok := d.Senders[it.Kind]
		if !won {
			if f, folds := s.(Folder); ok && folds && f.Folded(it.ID) {
				sum.Delivered++ // this Run's sender delivered it, folded into another item's request
				continue
			}
			log.Debug("outbox item claimed by another dispatcher", "itemId", it.ID, "kind", it.Kind)
			sum.Skipped++
			continue
		}
		var sendErr error
		if !ok {
			sendErr = Permanent(fmt.Errorf("no sender configured for %q", it.Kind))
		} else {
			sendErr = s.Send(ctx, it, now)
		}
		if sendErr != nil && ctx.Err() != nil {
			// Cut off (the process is stopping): not the target's failure, so
			// no attempt is counted; the claim is given back (a claim from
			// the lease's end back to when the item was due), so that the
			// item stays due as it was and is sent by the next Run, here or
			// by another instance. Should that fail, the lease ends anyway.
			if claims {
				d.release(ctx, log, it, until)
			}
			return sum, ctx.Err()
		}
		if sendErr == nil {
			if err := d.Outbox.Complete(ctx, it.Partition, it.ID); err != nil {
				return sum, fmt.Errorf("dispatch: complete %s: %w", it.ID, err)
			}
			sum.Delivered++
			continue
		}
		var perm permanentError
		if errors.As(sendErr, &perm) || it.Attempts+1 >= maxAttempts {
			log.Warn("outbox item failed", "itemId", it.ID, "kind", it.Kind, "attempts", it.Attempts+1, "reason", sendErr.Error())
			if err := d.Outbox.Fail(ctx, it.Partition, it.ID, sendErr.Error()); err != nil {
				return sum, fmt.Errorf("dispatch: fail %s: %w", it.ID, err)
			}
			sum.Failed++
			continue
		}
		wait := d.backoff(it.Attempts + 1)
		var ra retryAfterError
		if errors.As(sendErr, &ra) && ra.after > wait {
			wait = ra.after
		}
		log.Info("outbox item will be retried", "itemId", it.ID, "kind", it.Kind, "attempt", it.Attempts+1, "in", wait.String(), "reason", sendErr.Error())
		if err := d.Outbox.Retry(ctx, it.Partition, it.ID, now.Add(wait), sendErr.Error()); err != nil {
			return sum, fmt.Errorf("dispatch: retry %s: %w", it.ID, err)
		}
		sum.Retried++
	}
	return sum, nil
}

// releaseTimeout bounds giving a claim back after Run is cut off.
const releaseTimeout = 5 * time.Second

// release gives back the claim of an item that was not sent because ctx
// ended: its NextAttempt goes from the lease's end back to when it was due.
func (d *Dispatcher) release(ctx context.Context, log *slog.Logger, it OutboxItem, until time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if _, err := d.Outbox.Claim(ctx, it.Partition, it.ID, until, it.NextAttempt); err != nil {
		log.Debug("outbox item claim not given back: due again when its lease ends", "itemId", it.ID, "error", err.Error())
	}
}
