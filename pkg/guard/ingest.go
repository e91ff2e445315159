package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// maxPoisonBody bounds what is kept of one piece of bad input.
const maxPoisonBody = 256 << 10

// Ingest decodes one delivery from src and handles every change in it. Input that
// cannot be read is kept as poison and counted, never returned as an error: an
// error means the pipeline could not do its work (the store failed) and the
// delivery should be retried, which is safe because handling is idempotent.
func (p *Pipeline) Ingest(ctx context.Context, src Source, body []byte, now time.Time) (Summary, error) {
	return p.IngestAll(ctx, src, [][]byte{body}, now)
}

// IngestAll is Ingest for the message bodies of one delivery (an Event Hubs
// batch) together, in one Batch of the store: every body is decoded, the
// changes a rule judges are looked up in the ledger and ARM is read for those
// not processed yet (prefetch), and then each change is handled as an atomic
// unit of its own (HandleChange, a Batch nested in the delivery's), and only
// then is the outbox dispatched. A change that fails leaves nothing of itself
// and does not stop the others; the error joins theirs, and the delivery is
// tried again (the changes stored are duplicates then). When the delivery's
// Batch itself fails (the embedded store's commit), each body is stored in a
// Batch of its own, so that one the store chokes on does not keep the others
// from being stored.
func (p *Pipeline) IngestAll(ctx context.Context, src Source, bodies [][]byte, now time.Time) (Summary, error) {
	var sum Summary
	decode := p.Decoders[src]
	if decode == nil {
		return sum, fmt.Errorf("ingest: no decoder for source %q", src)
	}
	ctx = withReadCache(ctx)
	decoded := make([]Decoded, len(bodies))
	unreadable := make([]error, len(bodies))
	var changes []Change
	for i, b := range bodies {
		decoded[i], unreadable[i] = decode(b)
		settingsChanges(decoded[i].Changes) // a subscription's diagnostic settings are judged together
		changes = append(changes, decoded[i].Changes...)
	}
	// which names a body in an error, when there is more than one.
	which := func(i int, err error) error {
		if len(bodies) == 1 {
			return err
		}
		return fmt.Errorf("message body %d of %d: %w", i+1, len(bodies), err)
	}
	// handle stores body i: its poison, and each of its changes in a Batch of
	// its own. Errors of changes are collected in errs; an error returned
	// stops the delivery (poison not kept, or the context ended).
	handle := func(ctx context.Context, i int, sum *Summary, errs *[]error) error {
		if err := unreadable[i]; err != nil {
			sum.Rejected++
			return p.keepPoison(ctx, src, err.Error(), bodies[i], now)
		}
		d := decoded[i]
		for _, r := range d.Rejected {
			sum.Rejected++
			if err := p.keepPoison(ctx, src, r.Reason, r.Body, now); err != nil {
				return err
			}
		}
		sum.Ignored += d.Ignored
		for _, c := range d.Changes {
			s, err := p.HandleChange(ctx, c, now)
			sum.Add(s)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				*errs = append(*errs, which(i, err))
			}
		}
		return nil
	}
	var errs []error
	err := p.Store.Batch(ctx, func(ctx context.Context) error {
		sum, errs = Summary{}, nil
		p.prefetch(ctx, changes)
		for i := range bodies {
			if err := handle(ctx, i, &sum, &errs); err != nil {
				return which(i, err)
			}
		}
		return nil
	})
	switch {
	case err != nil && len(bodies) > 1 && ctx.Err() == nil:
		// One body may be what the store chokes on. Event Hubs checkpoints
		// a batch after its last retry whatever happens, so the others are
		// stored now, each in a Batch of its own, rather than lost with it.
		p.log().Warn("batch not stored whole; storing its message bodies one by one", "bodies", len(bodies), "error", err.Error())
		sum, errs = Summary{}, nil // the delivery's Batch stored nothing of what it counted
		for i := range bodies {
			var s Summary
			var bodyErrs []error
			err := p.Store.Batch(ctx, func(ctx context.Context) error {
				s, bodyErrs = Summary{}, nil
				return handle(ctx, i, &s, &bodyErrs)
			})
			if err != nil {
				errs = append(errs, which(i, err))
				continue
			}
			sum.Add(s)
			errs = append(errs, bodyErrs...)
		}
	case err != nil:
		return Summary{}, err
	}
	if src == SourceEventHub {
		if err := p.heard(ctx, changes, now); err != nil { // silence.go
			errs = append(errs, err)
		}
	}
	if err := p.dispatch(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return sum, errors.Join(errs...)
}

// prefetch reads from ARM, into the delivery's read cache, the resources its
// changes will be judged on (ReadConcurrency at a time), so that a store's
// write lock (the embedded store's, from its first write) is not held while
// the delivery waits on the network. It runs in the delivery's Batch before
// anything is written, and looks each change up in the ledger first, so that
// a change processed already costs no ARM read: on Cosmos DB that is the read
// of the change's partition its own Batch makes anyway, kept by the
// delivery's Batch. A change no rule judges costs no store call. It reads what
// HandleChange would read; a read that fails is not cached and is made again,
// and reported, when the change is handled.
func (p *Pipeline) prefetch(ctx context.Context, cs []Change) {
	var ids []string
	wanted := map[string]bool{}
	for _, c := range cs {
		if c.Resource != nil || wanted[IDKey(c.ResourceID)] || p.skip(c) != "" {
			continue
		}
		if seen, err := p.processed(ctx, PartitionOf(c.ResourceID), c); err != nil || seen {
			continue
		}
		wanted[IDKey(c.ResourceID)] = true
		ids = append(ids, c.ResourceID)
	}
	if len(ids) <= 1 || p.ReadConcurrency <= 1 {
		for _, id := range ids {
			_, _ = p.readARM(ctx, id)
		}
		return
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(p.ReadConcurrency, len(ids)) {
		wg.Go(func() {
			for id := range work {
				_, _ = p.readARM(ctx, id)
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
}

func (p *Pipeline) keepPoison(ctx context.Context, src Source, reason string, body []byte, now time.Time) error {
	if len(body) > maxPoisonBody {
		body = body[:maxPoisonBody]
	}
	h := sha256.Sum256(append([]byte(string(src)+"\x00"), body...))
	rec := PoisonRecord{ID: hex.EncodeToString(h[:16]), Source: string(src), Reason: reason, Body: string(body), At: now.UTC()}
	p.log().Warn("input kept as poison", "source", src, "reason", reason, "poisonId", rec.ID)
	if err := p.Store.PutPoison(ctx, rec); err != nil {
		return fmt.Errorf("keep poison %s: %w", rec.ID, err)
	}
	return nil
}
