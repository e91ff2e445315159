// Package memstore is a guard.Store in Go maps, for the benchmark only: the
// "without a store" baseline that shows what the pipeline itself costs. It is
// not a product store and is not meant to become one. It is trivially fast and
// does little more than the interface asks: findings and resources in maps,
// audit records sealed (hash-chained, as a real store does) and then only counted
// unless KeepAudit is set, and, so that memory stays flat over a long run, a
// ledger that remembers the last LedgerWindow..2*LedgerWindow operation keys
// rather than all of them (the benchmark's redeliveries come within a few hundred
// messages, far inside the window; a real store keeps every key).
//
// A Batch is atomic by an undo log: each write in it notes how to undo itself,
// and a Batch whose function fails undoes its writes, newest first (a Batch
// nested in another hands its log to the outer one when it succeeds). Writes
// of another goroutine to the same keys meanwhile are not isolated from it:
// enough for a baseline that runs one pipeline per store.
package memstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	ledger    map[string]struct{} // partition + "\x00" + key
	ledgerOld map[string]struct{}
	grants    map[string]guard.Grant
	outbox    map[string]*guard.OutboxItem // partition + "\x00" + ID
	outSeq    map[string]int
	seq       int
	appended  int64                      // audit records appended, all partitions
	heads     map[string]guard.AuditHead // by partition
	audit     map[string][]guard.AuditRecord
	poison    map[string]guard.PoisonRecord
}

// undoLog is a Batch's writes, as the functions that undo them.
type undoLog struct{ fns []func() }

type batchKey struct{}

// Batch runs fn as one atomic unit: when fn fails, every write it made is undone.
func (s *Store) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	parent, _ := ctx.Value(batchKey{}).(*undoLog)
	log := &undoLog{}
	if err := fn(context.WithValue(ctx, batchKey{}, log)); err != nil {
		s.mu.Lock()
		for i := len(log.fns) - 1; i >= 0; i-- {
			log.fns[i]()
		}
		s.mu.Unlock()
		return err
	}
	if parent != nil {
		s.mu.Lock()
		parent.fns = append(parent.fns, log.fns...)
		s.mu.Unlock()
	}
	return nil
}

// onUndo notes how to undo a write made under ctx's Batch; s.mu is held.
func onUndo(ctx context.Context, fn func()) {
	if log, _ := ctx.Value(batchKey{}).(*undoLog); log != nil {
		log.fns = append(log.fns, fn)
	}
}

func pkey(partition, id string) string { return partition + "\x00" + id }

var _ guard.Store = (*Store)(nil)

// New returns an empty store with the given ledger window.
func New(ledgerWindow int) *Store {
	return &Store{LedgerWindow: ledgerWindow,
		findings: map[string]*guard.Finding{}, resources: map[string]*guard.Resource{},
		ledger: map[string]struct{}{}, grants: map[string]guard.Grant{},
		outbox: map[string]*guard.OutboxItem{}, outSeq: map[string]int{}, poison: map[string]guard.PoisonRecord{},
		heads: map[string]guard.AuditHead{}, audit: map[string][]guard.AuditRecord{}}
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

func (s *Store) UpdateFinding(ctx context.Context, partition, id string, fn func(cur *guard.Finding) (*guard.Finding, error)) (*guard.Finding, error) {
	if id == "" {
		return nil, errors.New("memstore: update finding: empty ID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur *guard.Finding
	before, existed := s.findings[id]
	if existed && guard.PartitionOf(before.ResourceID) != partition {
		return nil, fmt.Errorf("memstore: update finding %s: it is in partition %s, not %s", id, guard.PartitionOf(before.ResourceID), partition)
	}
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
	if guard.PartitionOf(n.ResourceID) != partition {
		return nil, fmt.Errorf("memstore: update finding %s: fn returned a finding of partition %s, not %s", id, guard.PartitionOf(n.ResourceID), partition)
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
	onUndo(ctx, func() {
		if existed {
			s.findings[id] = before
		} else {
			delete(s.findings, id)
		}
	})
	out := n
	return &out, nil
}

func (s *Store) ListFindings(_ context.Context, f guard.FindingFilter) ([]guard.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.Finding
	for _, x := range s.findings {
		if (f.Status != "" && x.Status != f.Status) || (f.Rule != "" && x.Rule != f.Rule) ||
			(f.ResourceID != "" && !guard.SameID(x.ResourceID, f.ResourceID)) {
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

func (s *Store) PutResource(ctx context.Context, r *guard.Resource) error {
	if r == nil || guard.IDKey(r.ID) == "" {
		return errors.New("memstore: put resource: no resource or empty ID")
	}
	c := *r
	c.ObservedAt = c.ObservedAt.UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := guard.IDKey(r.ID)
	before, existed := s.resources[k]
	s.resources[k] = &c
	onUndo(ctx, func() {
		if existed {
			s.resources[k] = before
		} else {
			delete(s.resources, k)
		}
	})
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

func (s *Store) Processed(_ context.Context, partition, key string) (bool, error) {
	key = pkey(partition, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ledger[key]; ok {
		return true, nil
	}
	_, ok := s.ledgerOld[key]
	return ok, nil
}

func (s *Store) MarkProcessed(ctx context.Context, partition, key string, _ time.Time) error {
	if key == "" || partition == "" {
		return errors.New("memstore: mark processed: empty key or partition")
	}
	key = pkey(partition, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.LedgerWindow > 0 && len(s.ledger) >= s.LedgerWindow {
		s.ledgerOld, s.ledger = s.ledger, make(map[string]struct{}, s.LedgerWindow)
	}
	if _, ok := s.ledger[key]; !ok {
		s.ledger[key] = struct{}{}
		ledger := s.ledger
		onUndo(ctx, func() { delete(ledger, key) })
	}
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

func (s *Store) PutGrant(ctx context.Context, g guard.Grant) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.Start, g.End = g.Start.UTC(), g.End.UTC()
	s.restoreGrant(ctx, g.ID)
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

func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restoreGrant(ctx, id)
	delete(s.grants, id)
	return nil
}

// restoreGrant notes how to undo a write of grant id; s.mu is held.
func (s *Store) restoreGrant(ctx context.Context, id string) {
	before, existed := s.grants[id]
	onUndo(ctx, func() {
		if existed {
			s.grants[id] = before
		} else {
			delete(s.grants, id)
		}
	})
}

// Outbox.

func (s *Store) Enqueue(ctx context.Context, it guard.OutboxItem) error {
	if it.Partition == "" {
		return fmt.Errorf("memstore: enqueue %s: empty partition", it.ID)
	}
	k := pkey(it.Partition, it.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.outbox[k]; ok {
		return nil
	}
	it.CreatedAt, it.NextAttempt = it.CreatedAt.UTC(), it.NextAttempt.UTC()
	s.seq++
	s.outbox[k], s.outSeq[k] = &it, s.seq
	onUndo(ctx, func() { delete(s.outbox, k); delete(s.outSeq, k) })
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
		return s.outSeq[pkey(out[i].Partition, out[i].ID)] < s.outSeq[pkey(out[j].Partition, out[j].ID)]
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) Complete(ctx context.Context, partition, id string) error {
	k := pkey(partition, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if before, ok := s.outbox[k]; ok {
		seq := s.outSeq[k]
		onUndo(ctx, func() { s.outbox[k], s.outSeq[k] = before, seq })
	}
	delete(s.outbox, k)
	delete(s.outSeq, k)
	return nil
}

func (s *Store) Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error {
	return s.changeItem(ctx, partition, id, func(it *guard.OutboxItem) {
		it.Attempts++
		it.NextAttempt, it.LastError = next.UTC(), lastErr
	})
}

// Claim moves a due item's NextAttempt from due to until if it is still
// there, not failed, and still due at due.
func (s *Store) Claim(ctx context.Context, partition, id string, due, until time.Time) (bool, error) {
	k := pkey(partition, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.outbox[k]
	if !ok || it.Failed || !it.NextAttempt.Equal(due) {
		return false, nil
	}
	before := *it
	onUndo(ctx, func() { *it = before })
	it.NextAttempt = until.UTC()
	return true, nil
}

func (s *Store) Fail(ctx context.Context, partition, id, reason string) error {
	return s.changeItem(ctx, partition, id, func(it *guard.OutboxItem) {
		it.Attempts++
		it.Failed, it.LastError = true, reason
	})
}

func (s *Store) changeItem(ctx context.Context, partition, id string, change func(*guard.OutboxItem)) error {
	k := pkey(partition, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.outbox[k]
	if !ok {
		return notFound("outbox item", id)
	}
	before := *it
	onUndo(ctx, func() { *it = before })
	change(it)
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

func (s *Store) AppendAudit(ctx context.Context, rec guard.AuditRecord) (guard.AuditRecord, error) {
	if rec.Partition == "" {
		return guard.AuditRecord{}, errors.New("memstore: append audit: empty partition")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head, had := s.heads[rec.Partition]
	rec = guard.SealAudit(rec, head.Seq+1, head.Hash)
	s.heads[rec.Partition] = guard.AuditHead{Partition: rec.Partition, Seq: rec.Seq, Hash: rec.Hash, At: rec.At}
	s.appended++
	n := len(s.audit[rec.Partition])
	if s.KeepAudit {
		s.audit[rec.Partition] = append(s.audit[rec.Partition], rec)
	}
	onUndo(ctx, func() {
		if had {
			s.heads[rec.Partition] = head
		} else {
			delete(s.heads, rec.Partition)
		}
		s.appended--
		s.audit[rec.Partition] = s.audit[rec.Partition][:n]
	})
	return rec, nil
}

func (s *Store) ListAudit(_ context.Context, partition string, after int64, limit int) ([]guard.AuditRecord, error) {
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.AuditRecord
	for _, r := range s.audit[partition] {
		if r.Seq > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s *Store) AuditHeads(_ context.Context, since time.Time) ([]guard.AuditHead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []guard.AuditHead
	for _, h := range s.heads {
		if !h.At.Before(since) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Partition < out[j].Partition })
	return out, nil
}

// AuditCount is how many audit records were appended.
func (s *Store) AuditCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended
}

// Poison.

func (s *Store) PutPoison(ctx context.Context, p guard.PoisonRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.poison[p.ID]; !ok {
		p.At = p.At.UTC()
		s.poison[p.ID] = p
		onUndo(ctx, func() { delete(s.poison, p.ID) })
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
