package cosmos

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/internal/retry"
	"github.com/exportguard/exportguard/pkg/guard"
)

// maxBatchOps is Cosmos DB's limit of operations in one transactional batch.
// A partition's writes in one unit that need more are refused, not split: a
// split would make them two commits, and the unit no longer atomic.
// https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch#limitations
const maxBatchOps = 100

// errTooManyOps is returned for a unit whose writes to one partition exceed
// maxBatchOps.
var errTooManyOps = errors.New("more writes to one partition than one transactional batch holds")

// unitKey is the context key of the unit of work a Batch runs fn in.
type unitKey struct{}

// unit is a Batch's unit of work: the heads of the partitions it has read (each
// once), with its writes applied to them in memory, and the audit records and
// outbox operations to commit beside them.
type unit struct {
	parent *unit
	parts  map[string]*partState // by partition
	seed   map[string]*partState // heads known from the attempt before (committed or read after a lost race)
	clock  int                   // counts writes, for the commit order
}

// partState is one partition as a unit knows it.
type partState struct {
	partition string
	head      *headDoc    // as read, with the unit's writes
	etag      azcore.ETag // of the head read; "" when there was none
	base      *headDoc    // the head as read, before the unit's first write to it
	// done says an earlier run of fn in the same Batch committed this
	// partition: head is what it held before, and writes to it are dropped
	// (see Batch); after is what it holds now.
	done      bool
	after     *partState
	lastWrite int        // the unit's clock at its last write; 0: read only
	audits    []auditDoc // records appended, in Seq order
	items     []*itemOp  // outbox writes, in order, one per item ID
	itemsRead map[string]*outboxDoc
}

// opKind is what an outbox operation does.
type opKind int

const (
	opCreate opKind = iota // an item enqueued: kept as it is when it exists (409)
	opUpsert               // an item retried or failed
	opDelete               // an item completed: nothing when it is absent (404)
)

// itemOp is an outbox write of a unit.
type itemOp struct {
	kind opKind
	id   string // the item's ID
	doc  *outboxDoc
}

func unitOf(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	return u
}

func (u *unit) dirty(p *partState) bool {
	return p.lastWrite > 0
}

// wrote records a write to p.
func (u *unit) wrote(p *partState) {
	u.clock++
	p.lastWrite = u.clock
}

// Batch runs fn as one unit of work (see guard.Batcher): reads of a partition
// come from one point read of its head, the first time the unit (or a unit it
// is nested in, when that one has not written the partition) needs it; writes
// are kept in memory, and each partition written is committed as one
// transactional batch, conditional on the head's ETag, in the order of each
// partition's last write. When a commit loses a race (412 or 409 on the head),
// fn runs again in a new unit, with the partition read again, up to
// Options.UpdateAttempts times with jittered backoff; then the error wraps
// guard.ErrConflict. A Batch under a Batch commits on its own when it returns,
// and hands what it read and wrote to the unit around it.
//
// There is no transaction across partitions: partitions committed before the
// one that lost stay committed. When fn runs again, it reads them as they
// were before that commit, and what it writes to them is dropped, so that a
// Batch's writes to a partition land once (fn, given the same reads, writes
// the same), while the partition that lost, and those after it, are read
// again and committed anew.
func (s *Store) Batch(ctx context.Context, fn func(ctx context.Context) error) error {
	parent := unitOf(ctx)
	var seed map[string]*partState
	for attempt := 1; ; attempt++ {
		u := &unit{parent: parent, parts: map[string]*partState{}, seed: seed}
		if err := fn(context.WithValue(ctx, unitKey{}, u)); err != nil {
			return err
		}
		lost, err := s.commit(ctx, u)
		u.handOver()
		if err == nil {
			return nil
		}
		if lost == nil {
			return err
		}
		for a := parent; a != nil; a = a.parent {
			if p, ok := a.parts[lost.partition]; ok && !a.dirty(p) {
				delete(a.parts, lost.partition)
			}
		}
		if attempt >= s.attempts {
			return fmt.Errorf("cosmos: batch: %w: other writers changed partition %s first %d times in a row: %w",
				guard.ErrConflict, lost.partition, attempt, err)
		}
		seed = u.nextSeed()
		if lost.head != nil {
			seed[lost.partition] = lost
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// inUnit runs fn in the unit of ctx, or, outside a Batch, in a Batch of its
// own: every write is one conditional transactional batch either way.
func (s *Store) inUnit(ctx context.Context, fn func(ctx context.Context, u *unit) error) error {
	if u := unitOf(ctx); u != nil {
		return fn(ctx, u)
	}
	return s.Batch(ctx, func(ctx context.Context) error { return fn(ctx, unitOf(ctx)) })
}

// load returns the partition as the unit knows it, reading its head the
// first time: from the attempt before, from a unit around it that has read it
// and not written it, or with one point read (404: an empty partition).
func (s *Store) load(ctx context.Context, u *unit, partition string) (*partState, error) {
	if p, ok := u.parts[partition]; ok {
		return p, nil
	}
	if p, ok := u.seed[partition]; ok {
		q := &partState{partition: partition, head: p.head.clone(), etag: p.etag, done: p.done, after: p.after}
		u.parts[partition] = q
		return q, nil
	}
	for a := u.parent; a != nil; a = a.parent {
		if p, ok := a.parts[partition]; ok {
			if a.dirty(p) {
				break // its writes are its own to commit
			}
			q := &partState{partition: partition, head: p.head.clone(), etag: p.etag}
			u.parts[partition] = q
			return q, nil
		}
	}
	h, etag, err := s.readHead(ctx, partition)
	if err != nil {
		return nil, err
	}
	p := &partState{partition: partition, head: h, etag: etag}
	u.parts[partition] = p
	return p, nil
}

// loadForWrite is load for a call that may write the partition: it keeps
// the head as it was before the unit's first write (see Batch).
func (s *Store) loadForWrite(ctx context.Context, u *unit, partition string) (*partState, error) {
	p, err := s.load(ctx, u, partition)
	if err == nil && p.base == nil && !p.done {
		p.base = p.head.clone()
	}
	return p, err
}

// readHead reads a partition's head with one point read; an absent head is
// an empty partition, with no ETag.
func (s *Store) readHead(ctx context.Context, partition string) (*headDoc, azcore.ETag, error) {
	b, etag, err := readItem(ctx, s.container(cPartitions), partitionKey(partition), headID)
	if err != nil {
		return nil, "", fmt.Errorf("read partition %s: %w", partition, err)
	}
	if b == nil {
		return emptyHead(partition), "", nil
	}
	h, err := decodeHead(b)
	if err != nil {
		return nil, "", fmt.Errorf("read partition %s: %w", partition, err)
	}
	return h, etag, nil
}

// peek returns a partition's head for a read: the unit's, when ctx has one
// (loading it into the unit), or a point read of its own.
func (s *Store) peek(ctx context.Context, partition string) (*headDoc, error) {
	if u := unitOf(ctx); u != nil {
		p, err := s.load(ctx, u, partition)
		if err != nil {
			return nil, err
		}
		return p.head, nil
	}
	h, _, err := s.readHead(ctx, partition)
	return h, err
}

// nextSeed returns what the next run of fn starts from after a lost race:
// the partitions committed by this run and the runs before, as they were
// before (done).
func (u *unit) nextSeed() map[string]*partState {
	seed := map[string]*partState{}
	for k, p := range u.seed {
		if p.done {
			seed[k] = p
		}
	}
	for k, p := range u.parts {
		if p.lastWrite < 0 && !p.done {
			seed[k] = &partState{partition: k, head: p.base, done: true,
				after: &partState{partition: k, head: p.head, etag: p.etag}}
		}
	}
	return seed
}

// handOver gives the unit around u what u read and committed, where that
// unit has not written the partition itself, so that a later Batch in it
// reads none of them again. (After a failed commit, what it read is handed
// over too: the Batch around it reads it again only if it loses a race on it.)
func (u *unit) handOver() {
	a := u.parent
	if a == nil {
		return
	}
	give := func(k string, p *partState) {
		if q, ok := a.parts[k]; ok && a.dirty(q) {
			return
		}
		if p.done {
			p = p.after
		}
		if p.lastWrite > 0 { // written, not committed
			return
		}
		a.parts[k] = &partState{partition: k, head: p.head, etag: p.etag}
	}
	for k, p := range u.seed {
		if _, ok := u.parts[k]; !ok && p.done {
			give(k, p)
		}
	}
	for k, p := range u.parts {
		give(k, p)
	}
}

// commit commits each partition u wrote, in the order of their last writes,
// each as one transactional batch. When one loses a race it returns that
// partition (with its head as read again, when it was) and an error.
func (s *Store) commit(ctx context.Context, u *unit) (*partState, error) {
	var written []*partState
	for _, p := range u.parts {
		if u.dirty(p) && !p.done {
			written = append(written, p)
		}
	}
	slices.SortFunc(written, func(a, b *partState) int { return cmp.Compare(a.lastWrite, b.lastWrite) })
	for _, p := range written {
		lost, err := s.commitPart(ctx, p)
		if err != nil {
			if lost != nil {
				return lost, err
			}
			return nil, fmt.Errorf("cosmos: commit partition %s: %w", p.partition, err)
		}
		p.lastWrite = -1 // committed
	}
	return nil, nil
}

// errLostRace says another writer changed the partition's head first.
var errLostRace = errors.New("the partition changed since it was read")

// batchOp is one operation of a partition's transactional batch.
type batchOp struct {
	what string // for errors: "head", "audit record 7", "outbox item x"
	kind opKind
	id   string
	doc  []byte
	head bool // the partition's head
	item bool // an outbox item
}

// commitPart commits one partition's writes as one transactional batch: the
// head first (replaced if its ETag is still the one read, or created if there
// was none), then the audit records (created) and the outbox writes. An outbox
// create that meets an item of its ID (409) or a delete that meets none (404)
// is dropped and the batch sent again, which is what Enqueue and Complete
// promise. When the head's condition fails, the head is read again: if it
// carries this commit's write ID, the batch had landed and only its answer
// was lost (the transient retry then met its own write); otherwise the race
// is lost, and the returned part holds the head as read now.
func (s *Store) commitPart(ctx context.Context, p *partState) (*partState, error) {
	writeID := newWriteID()
	hb, err := p.head.encode(writeID, s.ledgerTTL)
	if err != nil {
		return nil, err
	}
	ops := []batchOp{{what: "head", id: headID, doc: hb, head: true}}
	for _, d := range p.audits {
		b, err := encodeJSON(d)
		if err != nil {
			return nil, err
		}
		ops = append(ops, batchOp{what: fmt.Sprintf("audit record %d", d.Seq), kind: opCreate, id: d.ID, doc: b})
	}
	for _, op := range p.items {
		o := batchOp{what: "outbox item " + op.id, kind: op.kind, id: outboxDocID(op.id), item: true}
		if op.doc != nil {
			if o.doc, err = encodeJSON(op.doc); err != nil {
				return nil, err
			}
		}
		ops = append(ops, o)
	}
	if len(ops) > maxBatchOps {
		return nil, fmt.Errorf("%w: %d operations (the head, %d audit records, %d outbox writes), at most %d",
			errTooManyOps, len(ops), len(p.audits), len(p.items), maxBatchOps)
	}
	c := s.container(cPartitions)
	pk := partitionKey(p.partition)
	for range len(ops) { // each pass drops an operation or ends
		b := c.NewTransactionalBatch(pk)
		for _, op := range ops {
			switch {
			case op.head && p.etag != "":
				etag := p.etag
				b.ReplaceItem(op.id, op.doc, &azcosmos.TransactionalBatchItemOptions{IfMatchETag: &etag})
			case op.kind == opCreate:
				b.CreateItem(op.doc, nil)
			case op.kind == opUpsert:
				b.UpsertItem(op.doc, nil)
			case op.kind == opDelete:
				b.DeleteItem(op.id, nil)
			}
		}
		var resp azcosmos.TransactionalBatchResponse
		err := retryTransient(ctx, func() (err error) {
			resp, err = c.ExecuteTransactionalBatch(ctx, b, nil)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("transactional batch of %d operations: %w", len(ops), err)
		}
		if resp.Success {
			if len(resp.OperationResults) > 0 {
				p.etag = resp.OperationResults[0].ETag
			}
			p.head.WriteID = writeID
			p.audits, p.items = nil, nil
			return nil, nil
		}
		i, status := failedOp(resp)
		if i < 0 || i >= len(ops) {
			return nil, fmt.Errorf("transactional batch of %d operations failed (HTTP %d) and named no operation", len(ops), resp.RawResponse.StatusCode)
		}
		op := ops[i]
		switch {
		case op.head && (status == http.StatusPreconditionFailed || status == http.StatusConflict || status == http.StatusNotFound):
			return s.landedOrLost(ctx, p, writeID, status)
		case op.item && op.kind == opCreate && status == http.StatusConflict:
			ops = slices.Delete(ops, i, i+1) // enqueued already: kept as it is
		case op.item && op.kind == opDelete && status == http.StatusNotFound:
			ops = slices.Delete(ops, i, i+1) // completed already
		case status == http.StatusConflict:
			return nil, fmt.Errorf("%s: exists already though the partition's head does not name it: it was written behind the store's back (exportguard audit verify names what is wrong)", op.what)
		default:
			return nil, fmt.Errorf("transactional batch: %s: status %d", op.what, status)
		}
	}
	return nil, errors.New("transactional batch: every operation was dropped")
}

// landedOrLost reads the head after its condition failed: the batch landed
// when the head carries its write ID (an answer lost in transit, the retry
// meeting its own write), and the race is lost otherwise.
func (s *Store) landedOrLost(ctx context.Context, p *partState, writeID string, status int32) (*partState, error) {
	h, etag, err := s.readHead(ctx, p.partition)
	if err != nil {
		return &partState{partition: p.partition}, fmt.Errorf("%w (status %d), and reading it again failed: %w", errLostRace, status, err)
	}
	if h.WriteID == writeID {
		p.head, p.etag = h, etag
		p.audits, p.items = nil, nil
		return nil, nil
	}
	return &partState{partition: p.partition, head: h, etag: etag}, fmt.Errorf("%w (status %d)", errLostRace, status)
}

// failedOp returns the index and status of the operation that failed a batch:
// the first whose status is not 424 Failed Dependency.
func failedOp(resp azcosmos.TransactionalBatchResponse) (int, int32) {
	for i, r := range resp.OperationResults {
		if r.StatusCode != http.StatusFailedDependency && (r.StatusCode < 200 || r.StatusCode > 299) {
			return i, r.StatusCode
		}
	}
	return -1, 0
}

// newWriteID returns 128 random bits in hex.
func newWriteID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// backoff waits before attempt+1 of a unit that lost a race: a random time
// below min(4 ms × 2^attempt, 250 ms), so that the writers racing spread out.
func backoff(ctx context.Context, attempt int) error {
	return retry.Sleep(ctx, retry.Jittered(4*time.Millisecond, 250*time.Millisecond, attempt+1)+time.Millisecond)
}
