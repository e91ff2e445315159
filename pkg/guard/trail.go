package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// A whole trail (DESIGN 6) is one hash chain per partition and the chain of
// seals that orders them. AuditVerifier checks one chain; TrailVerifier checks
// them all and, through the seals, each against the others: a seal names the
// head each partition had when it was written, so a partition rewritten from
// some record on, or cut short, after a seal no longer holds the record the seal
// names, even though its own chain verifies. What no seal covers yet (records
// newer than the last seal) can only be checked chain by chain: the report
// names those records as unsealed.

// Problems only a whole trail shows, beside AuditAltered, AuditRemoved and
// AuditInserted.
const (
	// AuditRewritten: a record verifies in its chain, but a seal names another
	// Hash for it: the partition was rewritten at or before it after the seal.
	AuditRewritten AuditProblem = "rewritten"
	// AuditBadSeal: a seal's hash and chain verify, but what it says does not
	// hold: its data is not SealData, its heads are not sorted by partition and
	// distinct, its Root is not MerkleRoot of its heads, it names a Seq before
	// one an earlier seal named for the same partition, or it names a legacy
	// head other than as the first seal.
	AuditBadSeal AuditProblem = "bad seal"
)

// TrailError is the first problem a TrailVerifier found: the record, and the
// partition whose chain it is in (SealPartition for a seal).
type TrailError struct {
	Partition string
	AuditError
}

func (e *TrailError) Error() string { return "partition " + e.Partition + ": " + e.AuditError.Error() }

// Unwrap lets errors.As find the AuditError.
func (e *TrailError) Unwrap() error { return &e.AuditError }

// TrailReader is what VerifyTrail reads: a Store's audit calls.
type TrailReader interface {
	ListAudit(ctx context.Context, partition string, after int64, limit int) ([]AuditRecord, error)
	AuditHeads(ctx context.Context, since time.Time) ([]AuditHead, error)
}

// Unsealed is a partition's records that no seal covers yet: Seq After+1 to
// Head (After is 0 when no seal names the partition).
type Unsealed struct {
	Partition string `json:"partition"`
	After     int64  `json:"after"`
	Head      int64  `json:"head"`
}

// Count is how many records are unsealed.
func (u Unsealed) Count() int64 { return u.Head - u.After }

// TrailReport is what a trail that verified holds.
type TrailReport struct {
	// Partitions is how many partition chains verified (the seal chain not
	// counted), and Records how many records they hold.
	Partitions, Records int
	// Seals is how many seals verified; LastSeal is the last one (the zero
	// record when there is none), Root its Merkle root.
	Seals    int
	LastSeal AuditRecord
	Root     string
	// Legacy is the head of the single chain of a store kept before
	// partitions, as the first seal names it (nil when it names none).
	Legacy *AuditHead
	// Unsealed lists, by partition, the records newer than the last seal that
	// names the partition.
	Unsealed []Unsealed
}

// UnsealedRecords is how many records Unsealed lists in all.
func (r *TrailReport) UnsealedRecords() int64 {
	var n int64
	for _, u := range r.Unsealed {
		n += u.Count()
	}
	return n
}

// sealed is what a seal says of one partition's record.
type sealed struct {
	hash string
	seal int64 // the Seq of the seal that names it
}

// TrailVerifier checks a whole trail: every seal (AddSeal, in Seq order), then
// every partition's records (Add, each partition's in Seq order; partitions
// may come in any order, even interleaved), then Finish. Each chain is checked
// by an AuditVerifier; a record that a seal names must have the Hash the seal
// says; and at Finish every record a seal names must have been seen. The first
// problem is returned as a *TrailError by that call and by every call after it.
type TrailVerifier struct {
	seals  AuditVerifier
	named  map[string]map[int64]sealed // partition → Seq → what the seals say, until the record is seen
	latest map[string]int64            // partition → the highest Seq a seal names
	chains map[string]*AuditVerifier
	legacy *AuditHead
	root   string
	err    *TrailError
}

func (v *TrailVerifier) fail(partition string, e *AuditError) error {
	v.err = &TrailError{Partition: partition, AuditError: *e}
	return v.err
}

// AddSeal checks the next seal (a record of SealPartition) and notes the heads
// it names. Seals must all come before the first Add.
func (v *TrailVerifier) AddSeal(rec AuditRecord) error {
	if v.err != nil {
		return v.err
	}
	if v.chains != nil {
		return v.fail(SealPartition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditInserted,
			Reason: "a seal read after the partitions' records", Verified: v.seals.Verified()})
	}
	if rec.Partition != SealPartition {
		return v.fail(SealPartition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditInserted,
			Reason: fmt.Sprintf("a record of partition %q in the seal chain", rec.Partition), Verified: v.seals.Verified()})
	}
	if err := v.seals.Add(rec); err != nil {
		return v.fail(SealPartition, err.(*AuditError))
	}
	bad := func(reason string, args ...any) error {
		return v.fail(SealPartition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditBadSeal,
			Reason: fmt.Sprintf(reason, args...), Verified: v.seals.Verified() - 1})
	}
	if rec.Kind != SealKind {
		return bad("its kind is %q, not %q", rec.Kind, SealKind)
	}
	var sd SealData
	if err := json.Unmarshal(rec.Data, &sd); err != nil {
		return bad("its data is not a seal's: %v", err)
	}
	if sd.Legacy != nil && rec.Seq != 1 {
		return bad("it names a legacy chain's head, which only the first seal of a migrated store does")
	}
	if root := MerkleRoot(sd.Heads); sd.Root != root {
		return bad("its root %s is not the Merkle root %s of the heads it names", short(sd.Root), short(root))
	}
	if v.named == nil {
		v.named, v.latest = map[string]map[int64]sealed{}, map[string]int64{}
	}
	for i, h := range sd.Heads {
		switch {
		case h.Partition == "" || h.Partition == SealPartition:
			return bad("it names a head of partition %q", h.Partition)
		case i > 0 && h.Partition <= sd.Heads[i-1].Partition:
			return bad("its heads are not sorted by partition and distinct (%q after %q)", h.Partition, sd.Heads[i-1].Partition)
		case h.Seq < 1:
			return bad("it names Seq %d of partition %s", h.Seq, h.Partition)
		case h.Seq < v.latest[h.Partition]:
			return bad("it names Seq %d of partition %s, before Seq %d an earlier seal named", h.Seq, h.Partition, v.latest[h.Partition])
		}
		if v.named[h.Partition] == nil {
			v.named[h.Partition] = map[int64]sealed{}
		}
		if prev, ok := v.named[h.Partition][h.Seq]; ok && prev.hash != h.Hash {
			return bad("it names record %d of partition %s with hash %s, seal %d with %s", h.Seq, h.Partition, short(h.Hash), prev.seal, short(prev.hash))
		}
		v.named[h.Partition][h.Seq] = sealed{hash: h.Hash, seal: rec.Seq}
		v.latest[h.Partition] = h.Seq
	}
	if sd.Legacy != nil {
		l := *sd.Legacy
		v.legacy = &l
	}
	v.root = sd.Root
	return nil
}

// Add checks the next record of its partition's chain, and that a seal naming
// it names its Hash.
func (v *TrailVerifier) Add(rec AuditRecord) error {
	if v.err != nil {
		return v.err
	}
	if v.chains == nil {
		v.chains = map[string]*AuditVerifier{}
	}
	if rec.Partition == "" || rec.Partition == SealPartition {
		return v.fail(rec.Partition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditInserted,
			Reason: fmt.Sprintf("a record of partition %q among the partitions' records", rec.Partition)})
	}
	c := v.chains[rec.Partition]
	if c == nil {
		c = &AuditVerifier{}
		v.chains[rec.Partition] = c
	}
	if err := c.Add(rec); err != nil {
		return v.fail(rec.Partition, err.(*AuditError))
	}
	if s, ok := v.named[rec.Partition][rec.Seq]; ok {
		if s.hash != rec.Hash {
			return v.fail(rec.Partition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditRewritten,
				Reason: fmt.Sprintf("its hash is %s, but seal %d names %s: the partition was rewritten at or before it after that seal",
					short(rec.Hash), s.seal, short(s.hash)), Verified: c.Verified() - 1})
		}
		delete(v.named[rec.Partition], rec.Seq)
	}
	return nil
}

// Finish checks that every record a seal names was seen, and that the heads,
// when given (a store's AuditHeads; nil for a file, which has none), are the
// last records seen of each chain, and returns the report.
func (v *TrailVerifier) Finish(heads []AuditHead) (*TrailReport, error) {
	if v.err != nil {
		return nil, v.err
	}
	for _, p := range sortedKeys(v.named) {
		if len(v.named[p]) == 0 {
			continue
		}
		seq := slices.Min(sortedKeys(v.named[p]))
		s := v.named[p][seq]
		last := v.last(p)
		return nil, v.fail(p, &AuditError{Seq: seq, Problem: AuditRemoved,
			Reason:   fmt.Sprintf("seal %d names it, but the partition's chain ends at Seq %d: records were cut off its end, or the seal names a record that never was", s.seal, last.Seq),
			Verified: v.verified(p)})
	}
	for _, h := range heads {
		last, verified := v.last(h.Partition), v.verified(h.Partition)
		if h.Partition == SealPartition {
			last, verified = v.seals.Last(), v.seals.Verified()
		}
		switch {
		case last.Seq < h.Seq:
			return nil, v.fail(h.Partition, &AuditError{Seq: last.Seq + 1, Problem: AuditRemoved,
				Reason: fmt.Sprintf("the partition's head is Seq %d, but its chain ends at Seq %d: records were cut off its end", h.Seq, last.Seq), Verified: verified})
		case last.Seq > h.Seq || last.Hash != h.Hash:
			return nil, v.fail(h.Partition, &AuditError{Seq: last.Seq, Kind: last.Kind, Subject: last.Subject, Problem: AuditRewritten,
				Reason: fmt.Sprintf("the partition's head is Seq %d hash %s, but its chain ends at Seq %d hash %s", h.Seq, short(h.Hash), last.Seq, short(last.Hash)), Verified: verified})
		}
	}
	r := &TrailReport{Seals: v.seals.Verified(), LastSeal: v.seals.Last(), Root: v.root, Legacy: v.legacy}
	for _, p := range sortedKeys(v.chains) {
		c := v.chains[p]
		r.Partitions++
		r.Records += c.Verified()
		if head := c.Last().Seq; head > v.latest[p] {
			r.Unsealed = append(r.Unsealed, Unsealed{Partition: p, After: v.latest[p], Head: head})
		}
	}
	return r, nil
}

func (v *TrailVerifier) last(p string) AuditRecord {
	if c := v.chains[p]; c != nil {
		return c.Last()
	}
	return AuditRecord{}
}

func (v *TrailVerifier) verified(p string) int {
	if c := v.chains[p]; c != nil {
		return c.Verified()
	}
	return 0
}

// VerifyTrail reads a store's whole trail (the seals, then each partition's
// chain, in the order of AuditHeads, a page of pageSize records at a time)
// through a TrailVerifier. It returns a *TrailError naming the first bad
// record, or what verified. each, when not nil, sees every record before it is
// checked; an error it returns ends the walk with that error.
func VerifyTrail(ctx context.Context, r TrailReader, pageSize int, each func(AuditRecord) error) (*TrailReport, error) {
	heads, err := r.AuditHeads(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("read the audit heads: %w", err)
	}
	var v TrailVerifier
	if err := WalkAudit(ctx, r, SealPartition, pageSize, func(rec AuditRecord) error {
		if each != nil {
			if err := each(rec); err != nil {
				return err
			}
		}
		return v.AddSeal(rec)
	}); err != nil {
		return nil, err
	}
	for _, h := range heads {
		if h.Partition == SealPartition {
			continue
		}
		if err := WalkAudit(ctx, r, h.Partition, pageSize, func(rec AuditRecord) error {
			if each != nil {
				if err := each(rec); err != nil {
					return err
				}
			}
			if rec.Partition != h.Partition && v.err == nil {
				return v.fail(h.Partition, &AuditError{Seq: rec.Seq, Kind: rec.Kind, Subject: rec.Subject, Problem: AuditInserted,
					Reason: fmt.Sprintf("a record of partition %q in this partition's chain", rec.Partition), Verified: v.verified(h.Partition)})
			}
			return v.Add(rec)
		}); err != nil {
			return nil, err
		}
	}
	return v.Finish(heads)
}

// WalkAudit calls fn for each record of a partition's chain, in Seq order,
// reading it pageSize records at a time, and stops at fn's first error.
func WalkAudit(ctx context.Context, r TrailReader, partition string, pageSize int, fn func(AuditRecord) error) error {
	after := int64(0)
	for {
		page, err := r.ListAudit(ctx, partition, after, pageSize)
		if err != nil {
			return fmt.Errorf("read the audit chain of partition %s after Seq %d: %w", partition, after, err)
		}
		for _, rec := range page {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(page) == 0 {
			return nil
		}
		last := page[len(page)-1].Seq
		if last <= after {
			return fmt.Errorf("read the audit chain of partition %s: the store listed Seq %d after %d", partition, last, after)
		}
		after = last
	}
}

func sortedKeys[K interface{ ~string | ~int64 }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
