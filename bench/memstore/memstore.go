// Package memstore is a guard.Store in Go maps, for the benchmark only: the
// "without a store" baseline that shows what the pipeline itself costs. It is
// not a product store and is not meant to become one. It is trivially fast and
// does little more than the interface asks: findings and resources in maps,
// audit records sealed (hash-chained, as a real store does) and then only counted
// unless KeepAudit is set, and, so that memory stays flat over a long run, a
// ledger that remembers the last LedgerWindow..2*LedgerWindow operation keys
// rather than all of them (the benchmark's redeliveries come within a few hundred
// messages, far inside the window; a real store keeps every key).
package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Store is the map-based baseline store. It is safe for concurrent use.
type Store struct {
	// LedgerWindow bounds the ledger (0: keep every key).
	LedgerWindow int
	// KeepAudit keeps every audit record (for tests); otherwise only the chain's
	// head is kept.
	KeepAudit bool
	// JSONEvidence keeps a finding's evidence as a JSON document store would
	// (numbers float64, lists []any), by a JSON round trip (for the contract
	// suite); the benchmark keeps it as the pipeline built it.
	JSONEvidence bool

	mu        sync.Mutex
	findings  map[string]*guard.Finding
	resources map[string]*guard.Resource
	ledger    map[string]struct{}
	ledgerOld map[string]struct{}
	grants    map[string]guard.Grant
	outbox    map[string]*guard.OutboxItem
	outSeq    map[string]int
	seq       int
	auditSeq  int64
	auditHead string
	audit     []guard.AuditRecord
	poison    map[string]guard.PoisonRecord
}

var _ guard.Store = (*Store)(nil)

// New returns an empty store with the given ledger window.
func New(ledgerWindow int) *Store {
	return &Store{LedgerWindow: ledgerWindow,
		findings: map[string]*guard.Finding{}, resources: map[string]*guard.Resource{},
		ledger: map[string]struct{}{}, grants: map[string]guard.Grant{},
		outbox: map[string]*guard.OutboxItem{}, outSeq: map[string]int{}, poison: map[string]guard.PoisonRecord{}}
}

func (s *Store) Close() error { return nil }

func notFound(what, id string) error {
	return fmt.Errorf("memstore: %s %s: %w", what, id, guard.ErrNotFound)
}

// Findings.

func (s *Store) GetFinding(_ context.Context, id string) (*guard.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.findings[id]
	if !ok {
		return nil, notFound("finding", id)
	}
	c := *f
	return &c, nil
}

func (s *Store) UpdateFinding(_ context.Context, id string, fn func(cur *guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	if id == "" {
		return nil, errors.New("memstore: update finding: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *guard.Finding
	if f, ok := s.findings[id]; ok {
		c := *f
		cur = &c
		if s.JSONEvidence { // fn may change what it is given; the pipeline does not
			raw, _ := json.Marshal(f.Evidence)
			c.Evidence = nil
			_ = json.Unmarshal(raw, &c.Evidence)
		}
	}
	next, err := fn(cur)
	if err != nil {
		return nil, err
	}
	if next == nil {
		if f, ok := s.findings[id]; ok {
			c := *f
			return &c, nil
		}
		return nil, nil
	}
	n := *next
	if n.ID == "" {
		n.ID = id
	} else if n.ID != id {
		return nil, fmt.Errorf("memstore: update finding %s: fn returned finding %s", id, n.ID)
	}
	n.FirstSeen, n.LastSeen = n.FirstSeen.UTC(), n.LastSeen.UTC()
	if n.ResolvedAt != nil {
		t := n.ResolvedAt.UTC()
		n.ResolvedAt = &t
	}
	if s.JSONEvidence {
		raw, err := json.Marshal(n.Evidence)
		if err != nil {
			return nil, fmt.Errorf("memstore: update finding %s: %w", id, err)
		}
		n.Evidence = nil
		if err := json.Unmarshal(raw, &n.Evidence); err != nil {
			return nil, fmt.Errorf("memstore: update finding %s: %w", id, err)
		}
	}
	s.findings[id] = &n
	out := n
	return &out, nil
}

func (s *Store) ListFindings(_ context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	pending := flagSet(f, "Pending")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.Finding
	for _, x := range s.findings {
		if (f.Status != "" && x.Status != f.Status) || (f.Rule != "" && x.Rule != f.Rule) ||
			(f.ResourceID != "" && !guard.SameID(x.ResourceID, f.ResourceID)) ||
			(pending && !fieldSet(*x, "Pending")) {
			continue
		}
		out = append(out, *x)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := guard.IDKey(out[i].ResourceID), guard.IDKey(out[j].ResourceID)
		if a != b {
			return a < b
		}
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// flagSet reports whether a bool field of the filter is true, and fieldSet
// whether a pointer field of the finding is set. FindingFilter.Pending and
// Finding.Pending (a transition stored but not yet told) are being added to
// guard alongside this benchmark; reading them by name lets the baseline build
// against guard with or without them.
func flagSet(f guard.FindingFilter, name string) bool {
	v := reflect.ValueOf(f).FieldByName(name)
	return v.IsValid() && v.Kind() == reflect.Bool && v.Bool()
}

func fieldSet(x guard.Finding, name string) bool {
	v := reflect.ValueOf(x).FieldByName(name)
	return v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil()
}

// Resources.

func (s *Store) GetResource(_ context.Context, id string) (*guard.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.resources[guard.IDKey(id)]
	if !ok {
		return nil, notFound("resource", id)
	}
	c := *r
	return &c, nil
}

func (s *Store) PutResource(_ context.Context, r *guard.Resource) error {
	if r == nil || guard.IDKey(r.ID) == "" {
		return errors.New("memstore: put resource: no resource or empty ID")
	}
	c := *r
	c.ObservedAt = c.ObservedAt.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources[guard.IDKey(r.ID)] = &c
	return nil
}

func (s *Store) ListResources(_ context.Context) ([]guard.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.resources))
	for k := range s.resources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]guard.Resource, 0, len(keys))
	for _, k := range keys {
		out = append(out, *s.resources[k])
	}
	return out, nil
}

// Ledger.

func (s *Store) Processed(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ledger[key]; ok {
		return true, nil
	}
	_, ok := s.ledgerOld[key]
	return ok, nil
}

func (s *Store) MarkProcessed(_ context.Context, key string, _ time.Time) error {
	if key == "" {
		return errors.New("memstore: mark processed: empty key")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.LedgerWindow > 0 && len(s.ledger) >= s.LedgerWindow {
		s.ledgerOld, s.ledger = s.ledger, make(map[string]struct{}, s.LedgerWindow)
	}
	s.ledger[key] = struct{}{}
	return nil
}

// Sizes is how many resource states and findings the store holds.
func (s *Store) Sizes() (resources, findings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.resources), len(s.findings)
}

// LedgerSize is how many keys the ledger holds now.
func (s *Store) LedgerSize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ledger) + len(s.ledgerOld)
}

// Grants.

func (s *Store) PutGrant(_ context.Context, g guard.Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.Start, g.End = g.Start.UTC(), g.End.UTC()
	s.grants[g.ID] = g
	return nil
}

func (s *Store) DueGrants(_ context.Context, before time.Time) ([]guard.Grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.Grant
	for _, g := range s.grants {
		if !g.End.After(before) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].End.Equal(out[j].End) {
			return out[i].End.Before(out[j].End)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (s *Store) DeleteGrant(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.grants, id)
	return nil
}

// Outbox.

func (s *Store) Enqueue(_ context.Context, it guard.OutboxItem) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.outbox[it.ID]; ok {
		return nil
	}
	it.CreatedAt, it.NextAttempt = it.CreatedAt.UTC(), it.NextAttempt.UTC()
	s.seq++
	s.outbox[it.ID], s.outSeq[it.ID] = &it, s.seq
	return nil
}

func (s *Store) DueItems(_ context.Context, now time.Time, limit int) ([]guard.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.OutboxItem
	for _, it := range s.outbox {
		if !it.Failed && !it.NextAttempt.After(now) {
			out = append(out, *it)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].NextAttempt.Equal(out[j].NextAttempt) {
			return out[i].NextAttempt.Before(out[j].NextAttempt)
		}
		return s.outSeq[out[i].ID] < s.outSeq[out[j].ID]
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) Complete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.outbox, id)
	delete(s.outSeq, id)
	return nil
}

func (s *Store) Retry(_ context.Context, id string, next time.Time, lastErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.outbox[id]
	if !ok {
		return notFound("outbox item", id)
	}
	it.Attempts++
	it.NextAttempt, it.LastError = next.UTC(), lastErr
	return nil
}

func (s *Store) Fail(_ context.Context, id, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.outbox[id]
	if !ok {
		return notFound("outbox item", id)
	}
	it.Attempts++
	it.Failed, it.LastError = true, reason
	return nil
}

func (s *Store) ListOutbox(_ context.Context) ([]guard.OutboxItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.OutboxItem
	for _, it := range s.outbox {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Audit.

func (s *Store) AppendAudit(_ context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditSeq++
	rec = guard.SealAudit(rec, s.auditSeq, s.auditHead)
	s.auditHead = rec.Hash
	if s.KeepAudit {
		s.audit = append(s.audit, rec)
	}
	return rec, nil
}

func (s *Store) ListAudit(_ context.Context, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.AuditRecord
	for _, r := range s.audit {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

// AuditCount is how many audit records were appended.
func (s *Store) AuditCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auditSeq
}

// Poison.

func (s *Store) PutPoison(_ context.Context, p guard.PoisonRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.poison[p.ID]; !ok {
		p.At = p.At.UTC()
		s.poison[p.ID] = p
	}
	return nil
}

func (s *Store) ListPoison(_ context.Context) ([]guard.PoisonRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.PoisonRecord
	for _, p := range s.poison {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.Before(out[j].At)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Counts returns how many findings there are in each status, "rule status" keyed.
func (s *Store) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]int{}
	for _, f := range s.findings {
		m[f.Rule+" "+strings.ToLower(string(f.Status))]++
	}
	return m
}
