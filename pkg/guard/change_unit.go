package guard

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// HandleChange judges the resource one change touched. Only succeeded operations
// give a verdict, and one operation is handled once however often, and by however
// many sources, it is delivered.
//
// A change is one atomic unit of the store (a Batch; nested in the delivery's
// when there is one): the ledger lookup that finds a duplicate, the verdicts'
// finding transitions, the outbox items planned for them, the change's audit
// record (audit_record.go), the state judged, and last the event key marked
// processed are stored together or not at all. A change that fails stores
// nothing and is handled whole when it is delivered again; one that was stored
// is a duplicate then, and tells nothing twice. Since the Batch may run its
// function again (Cosmos DB, after a lost race), the summary counts only what
// the Batch that committed did, and transitions are logged after it.
func (p *Pipeline) HandleChange(ctx context.Context, c Change, now time.Time) (Summary, error) {
	sum := Summary{Changes: 1}
	if why := p.skip(c); why != "" {
		p.debugChange(ctx, c, "change skipped: "+why, "outcome", c.Outcome, "subscriptionId", c.SubscriptionID, "resourceType", c.ResourceType)
		sum.Skipped++
		return sum, nil
	}
	c = p.received(c, now)
	part := PartitionOf(c.ResourceID)
	var s Summary
	var u *unit
	err := p.Store.Batch(ctx, func(ctx context.Context) error {
		s, u = Summary{}, nil
		seen, err := p.processed(ctx, part, c)
		if err != nil {
			return err
		}
		if seen {
			s.Duplicates++
			return nil
		}
		u = newChangeUnit(c, now)
		s, err = p.changeUnit(ctx, c, u)
		return err
	})
	if err != nil {
		return sum, fmt.Errorf("change %s of %s: %w", c.Operation, c.ResourceID, err)
	}
	sum.Add(s)
	if u == nil {
		p.debugChange(ctx, c, "change skipped: already processed")
		return sum, nil
	}
	u.logTransitions(p.log())
	return sum, nil
}

// changeUnit is the work of a change's Batch once the change is known not to
// be processed: judge the state after it, write its audit records, keep the
// state, and mark the change processed, the last write, in the change's
// partition (so that on Cosmos DB the dependents' partitions commit before it:
// a change whose own partition fails to commit is delivered again, and
// redoes nothing the dependents kept).
func (p *Pipeline) changeUnit(ctx context.Context, c Change, u *unit) (Summary, error) {
	var sum Summary
	res, err := p.stateAfter(ctx, c, u.now)
	if err != nil {
		return sum, err
	}
	var judged *Resource
	if res != nil {
		s, keep, err := p.judge(ctx, res, u)
		sum.Add(s)
		if err != nil {
			return sum, err
		}
		judged = keep
		if s.Unconfirmed > 0 {
			// The event's state would resolve findings: only ARM may (DESIGN
			// 3.6). What it answers is judged like any state read, and kept.
			s, keep, err := p.confirm(ctx, res, u)
			sum.Add(s)
			if err != nil {
				return sum, err
			}
			if keep != nil {
				judged = keep
			}
		}
	} else {
		sum.Skipped++
	}
	if err := p.writeAudit(ctx, u); err != nil {
		return sum, err
	}
	if err := p.keepState(ctx, judged); err != nil {
		return sum, err
	}
	key := c.OperationKey()
	if err := p.Store.MarkProcessed(ctx, u.own, key, u.now); err != nil {
		return sum, fmt.Errorf("mark %s processed: %w", key, err)
	}
	return sum, nil
}

// skip says why a change is not judged at all, or "" when it is. It asks the
// store nothing: a record no rule judges costs the store nothing.
func (p *Pipeline) skip(c Change) string {
	switch {
	case c.Outcome != OutcomeSucceeded:
		return "operation did not succeed"
	case !p.Policy.InScope(c.SubscriptionID):
		return "subscription out of scope"
	case !p.judged(c.ResourceType) && (c.Resource == nil || !p.judged(c.Resource.Type)):
		return "no rule judges this resource type"
	}
	return ""
}

// processed reports whether the change is in the ledger of its partition,
// under its key or the key a version before issue 14 gave it.
func (p *Pipeline) processed(ctx context.Context, partition string, c Change) (bool, error) {
	key := c.OperationKey()
	seen, err := p.Store.Processed(ctx, partition, key)
	if err != nil {
		return false, fmt.Errorf("check ledger for %s: %w", key, err)
	}
	if legacy := c.legacyKey(); !seen && legacy != "" {
		if seen, err = p.Store.Processed(ctx, partition, legacy); err != nil {
			return false, fmt.Errorf("check ledger for %s: %w", legacy, err)
		}
	}
	return seen, nil
}

// keepState stores a judged state as the resource's last known state.
func (p *Pipeline) keepState(ctx context.Context, res *Resource) error {
	if res == nil {
		return nil
	}
	if err := p.Store.PutResource(ctx, res); err != nil {
		return fmt.Errorf("store state of %s: %w", res.ID, err)
	}
	return nil
}

// MaxClockSkew is how far past its receipt an event's time may lie before it
// is taken as a lie: such a time is replaced by the time of receipt (DESIGN 3.6).
const MaxClockSkew = 5 * time.Minute

// received prepares a change as the pipeline believes it: a state the event
// carried is marked as such (Resource.FromEvent), and an event time, or a
// carried state's time, later than its receipt (plus MaxClockSkew) is taken
// as the receipt time, so that a state dated in the future cannot hide every
// real one after it.
func (p *Pipeline) received(c Change, now time.Time) Change {
	limit := now.Add(MaxClockSkew)
	if c.EventTime.After(limit) {
		p.log().Warn("event time later than its receipt; taken as the receipt time", "resourceId", c.ResourceID,
			"eventId", c.EventID, "source", c.Source, "eventTime", c.EventTime, "receivedAt", now.UTC())
		c.EventTime = now.UTC()
	}
	if c.Resource != nil {
		r := *c.Resource
		r.FromEvent = true
		if r.ObservedAt.After(limit) {
			p.log().Warn("state an event carried is dated later than its receipt; taken as the receipt time", "resourceId", r.ID,
				"eventId", c.EventID, "observedAt", r.ObservedAt, "receivedAt", now.UTC())
			r.ObservedAt = now.UTC()
		}
		c.Resource = &r
	}
	return c
}

// debugChange logs at debug level why a change was skipped. Most changes are
// skipped (Start records, failures, duplicates), so the logger with the
// change's attributes is built only when debug logging is on.
func (p *Pipeline) debugChange(ctx context.Context, c Change, msg string, args ...any) {
	l := p.log()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	l.With("resourceId", c.ResourceID, "operation", c.Operation, "source", c.Source, "eventId", c.EventID).Debug(msg, args...)
}
