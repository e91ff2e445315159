package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// The audit trail records one record per change (Kind "change") in the
// change's partition, and one per partition whose findings a sweep moves
// (Kind "sweep"): what happened, the verdicts reached and the findings'
// transitions, not a record each (DESIGN 6). A change that moves findings of
// other partitions (its dependents: the accounts that use a Key Vault key, the
// VMs of a JIT policy) writes a record of the same change in each of those
// too, before its own. Their data, as JSON (ChangeRecord, in this order):
//
//	change: {"caller", "correlationId", "eventId", "eventTime", "operation", "source",
//	         "transitions": [AuditTransition...], "verdicts": [AuditVerdict...]}
//	sweep:  {"eventId", "source": "timer", "transitions": [...], "verdicts": [...]}
//
// A change's record is written whatever it judged (its verdicts and
// transitions may be empty: the state was unknown, or nothing moved); a
// dependent's only when it has verdicts or transitions there; a sweep's only
// when it moved a finding there.

// Kinds of the records the pipeline writes.
const (
	AuditChange = "change"
	AuditSweep  = "sweep"
)

// changeAudit is the facts of a change, as every record of it has them.
type changeAudit struct {
	Caller        string    `json:"caller"`
	CorrelationID string    `json:"correlationId"`
	EventID       string    `json:"eventId"`
	EventTime     time.Time `json:"eventTime"`
	Operation     string    `json:"operation"`
	Source        Source    `json:"source"`
}

// sweepAudit is the facts of a sweep.
type sweepAudit struct {
	EventID string `json:"eventId"`
	Source  Source `json:"source"`
}

// AuditVerdict is one verdict a change or sweep reached, as its record lists it.
type AuditVerdict struct {
	EventID    string `json:"eventId"`
	GrantID    string `json:"grantId"`
	Message    string `json:"message"`
	ResourceID string `json:"resourceId"`
	Rule       string `json:"rule"`
	Violation  bool   `json:"violation"`
}

// AuditTransition is one finding changing state, as its record lists it.
type AuditTransition struct {
	FindingID  string  `json:"findingId"`
	Rule       string  `json:"rule"`
	ResourceID string  `json:"resourceId"`
	From       Status  `json:"from"` // "" for a new finding
	To         Status  `json:"to"`
	Message    string  `json:"message"`
	Trigger    Trigger `json:"trigger"`
}

// ChangeRecord is the Data of a "change" or "sweep" record as its readers (the
// report, tests) decode it: the facts of either kind, and the lists.
type ChangeRecord struct {
	Caller        string            `json:"caller,omitempty"`
	CorrelationID string            `json:"correlationId,omitempty"`
	EventID       string            `json:"eventId"`
	EventTime     time.Time         `json:"eventTime,omitzero"`
	Operation     string            `json:"operation,omitempty"`
	Source        Source            `json:"source"`
	Transitions   []AuditTransition `json:"transitions"`
	Verdicts      []AuditVerdict    `json:"verdicts"`
}

// partitionAudit is what a unit has to record in one partition.
type partitionAudit struct {
	Transitions []AuditTransition `json:"transitions"`
	Verdicts    []AuditVerdict    `json:"verdicts"`
}

// unit is one atomic unit of the pipeline's work (a change, or a sweep's
// re-check of one resource or grant) while its Batch runs: its trigger and
// time, and what it has to record, by partition.
type unit struct {
	trig    Trigger
	now     time.Time // UTC
	kind    string    // AuditChange or AuditSweep
	subject string    // the resource the change (or re-check) is about
	own     string    // its partition, whose record is written last
	facts   any       // changeAudit or sweepAudit
	parts   map[string]*partitionAudit
	order   []string // partitions in the order first touched
	moved   []AuditTransition
}

func newChangeUnit(c Change, now time.Time) *unit {
	now = now.UTC()
	return &unit{
		trig: Trigger{Source: c.Source, EventID: c.EventID, CorrelationID: c.CorrelationID, Caller: c.Caller},
		now:  now, kind: AuditChange, subject: c.ResourceID, own: PartitionOf(c.ResourceID),
		facts: changeAudit{Operation: c.Operation, Source: c.Source, EventID: c.EventID,
			CorrelationID: c.CorrelationID, Caller: c.Caller, EventTime: c.EventTime},
	}
}

func newSweepUnit(trig Trigger, resourceID string, now time.Time) *unit {
	return &unit{trig: trig, now: now.UTC(), kind: AuditSweep, subject: resourceID, own: PartitionOf(resourceID),
		facts: sweepAudit{EventID: trig.EventID, Source: trig.Source}}
}

func (u *unit) part(resourceID string) *partitionAudit {
	p := PartitionOf(resourceID)
	if u.parts == nil {
		u.parts = map[string]*partitionAudit{}
	}
	pa := u.parts[p]
	if pa == nil {
		pa = &partitionAudit{Transitions: []AuditTransition{}, Verdicts: []AuditVerdict{}}
		u.parts[p] = pa
		u.order = append(u.order, p)
	}
	return pa
}

// verdict notes a verdict reached, in the partition of the resource it is about.
func (u *unit) verdict(v Verdict) {
	pa := u.part(v.ResourceID)
	pa.Verdicts = append(pa.Verdicts, AuditVerdict{Rule: v.Rule, Violation: v.Violation, GrantID: v.GrantID,
		Message: v.Message, ResourceID: v.ResourceID, EventID: u.trig.EventID})
}

// transition notes a finding's transition, in the finding's partition.
func (u *unit) transition(f Finding, from Status, message string) {
	t := AuditTransition{FindingID: f.ID, Rule: f.Rule, ResourceID: f.ResourceID, From: from, To: f.Status,
		Message: message, Trigger: f.Trigger}
	pa := u.part(f.ResourceID)
	pa.Transitions = append(pa.Transitions, t)
	u.moved = append(u.moved, t)
}

// writeAudit appends the unit's records: those of the other partitions first,
// in the order they were touched, then its own partition's.
func (p *Pipeline) writeAudit(ctx context.Context, u *unit) error {
	for _, part := range u.order {
		if part != u.own {
			if err := p.appendUnitRecord(ctx, u, part); err != nil {
				return err
			}
		}
	}
	return p.appendUnitRecord(ctx, u, u.own)
}

func (p *Pipeline) appendUnitRecord(ctx context.Context, u *unit, part string) error {
	pa := u.parts[part]
	switch {
	case u.kind == AuditChange && part == u.own:
		if pa == nil {
			pa = &partitionAudit{Transitions: []AuditTransition{}, Verdicts: []AuditVerdict{}}
		}
	case pa == nil:
		return nil
	case u.kind == AuditSweep && len(pa.Transitions) == 0:
		return nil
	case len(pa.Transitions) == 0 && len(pa.Verdicts) == 0:
		return nil
	}
	raw, err := recordData(u.facts, pa)
	if err != nil {
		return fmt.Errorf("audit %s of %s: %w", u.kind, u.subject, err)
	}
	if _, err := p.Store.AppendAudit(ctx, AuditRecord{Partition: part, At: u.now, Kind: u.kind, Subject: u.subject, Data: raw}); err != nil {
		return fmt.Errorf("audit %s of %s in %s: %w", u.kind, u.subject, part, err)
	}
	return nil
}

// recordData encodes the facts and the lists as one object: the facts'
// fields, then "transitions" and "verdicts".
func recordData(facts any, pa *partitionAudit) (json.RawMessage, error) {
	f, err := json.Marshal(facts)
	if err != nil {
		return nil, err
	}
	l, err := json.Marshal(pa)
	if err != nil {
		return nil, err
	}
	// Both are objects: join {facts…} and {lists…} into one.
	out := make([]byte, 0, len(f)+len(l))
	out = append(out, f[:len(f)-1]...)
	out = append(out, ',')
	out = append(out, l[1:]...)
	return out, nil
}

// logTransitions logs the transitions a unit stored, once it is committed.
func (u *unit) logTransitions(l *slog.Logger) {
	for _, t := range u.moved {
		l.Info("finding "+string(t.To), "findingId", t.FindingID, "rule", t.Rule, "resourceId", t.ResourceID, "from", t.From)
	}
}
