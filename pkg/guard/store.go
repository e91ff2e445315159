package guard

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) by stores and readers for what does not exist.
var ErrNotFound = errors.New("not found")

// ErrUnsupported is returned (wrapped) by a ResourceReader that cannot read a
// resource of this kind at all (no api-version exists for its type). The
// pipeline then knows nothing of the resource: no verdict, and no retry.
var ErrUnsupported = errors.New("unsupported")

// ErrUnknown is returned (wrapped) by a ResourceReader that has no answer about
// a resource: a recorded session with no arm line for it at the replay clock
// (DESIGN 3.2). Unlike ErrNotFound it says nothing of whether the resource
// exists, so nothing about it changes: its findings and its last known state
// stay as they are.
var ErrUnknown = errors.New("state unknown")

// ErrConflict is returned (wrapped) when an optimistic write lost a race more often
// than the store would retry.
var ErrConflict = errors.New("conflict")

// Store is exportguard's state. Every implementation (the embedded SQLite store,
// Cosmos DB) passes the contract suite in pkg/storetest.
//
// State is kept in partitions (PartitionOf, DESIGN 6): the calls that read or
// write one resource's findings, event keys, audit chain or outbox items name
// its partition, so that a store can keep them together and change them in one
// atomic, conditional write.
type Store interface {
	Batcher
	Findings
	Resources
	Ledger
	Grants
	Outbox
	Audit
	Poison
	Close() error
}

// Batcher makes many calls one atomic unit. The pipeline handles each change in
// a Batch (and a delivery's changes under one more): a change's finding
// transitions, audit record, outbox items, event key and state are stored
// together or not at all, so nothing is ever left half told.
//
// The embedded store commits a Batch as one SQLite transaction, and a Batch
// under a Batch's context joins it (a delivery is one transaction). Cosmos DB
// has no transaction across partitions: it reads each partition a Batch
// touches once, keeps the writes, and commits each partition's writes as one
// transactional batch conditional on what it read (DESIGN 6), partitions in
// the order of their last write (so the partition that marks a change
// processed, written last, commits last); a Batch under a Batch's context is
// committed on its own when it returns. When a conditional commit loses a race
// (another instance changed the partition), the store reads again and runs fn
// again, so fn may run more than once: it must do nothing but call the store
// (and read what may be read again, such as ARM through the read cache).
type Batcher interface {
	// Batch runs fn with a context under which the store's calls form one
	// atomic unit, committed when fn returns nil and discarded when it returns
	// an error. Reads inside see the batch's writes; each call keeps its own
	// atomicity (an UpdateFinding whose fn fails writes nothing). A Batch under
	// a Batch's context either joins it or is committed on its own when it
	// returns; either way each Batch call is atomic.
	Batch(ctx context.Context, fn func(ctx context.Context) error) error
}

// Findings keeps findings.
type Findings interface {
	// GetFinding returns the finding with this ID, or ErrNotFound.
	GetFinding(ctx context.Context, id string) (*Finding, error)
	// UpdateFinding reads the finding with this ID in this partition (the
	// PartitionOf of its ResourceID; nil when there is none),
	// calls fn, and stores what fn returns, as one atomic read-modify-write: two
	// callers racing on one finding never lose an update. fn may run more than
	// once and must have no side effects; it must not call the store. When fn
	// returns nil, nothing is written. A finding fn returns with an empty ID gets id;
	// one with another ID, or whose ResourceID is of another partition, is refused.
	// It returns what was stored (or the current finding when fn returned nil).
	UpdateFinding(ctx context.Context, partition, id string, fn func(cur *Finding) (*Finding, error)) (*Finding, error)
	// ListFindings returns findings matching the filter, sorted by resource ID
	// (case-insensitively) then rule.
	ListFindings(ctx context.Context, f FindingFilter) ([]Finding, error)
}

// FindingFilter selects findings; zero fields match everything.
type FindingFilter struct {
	Status     Status
	Rule       string
	ResourceID string // exact resource, case-insensitively
}

// Resources keeps the last known state of each resource.
type Resources interface {
	// GetResource returns the last known state, or ErrNotFound.
	GetResource(ctx context.Context, id string) (*Resource, error)
	// PutResource stores r as the last known state of its resource, replacing
	// the one before. (The pipeline reads the state before with GetResource when
	// it judges; returning it here too cost a read on every write.)
	PutResource(ctx context.Context, r *Resource) error
	// ListResources returns every resource with a known state, sorted by ID key.
	ListResources(ctx context.Context) ([]Resource, error)
}

// Ledger remembers which events have been processed: delivery is at least once,
// so duplicates are normal. An event key is kept in the partition of the
// resource the change names, where a duplicate is found with the one read the
// change makes anyway; keys are forgotten after the store's ledger TTL.
type Ledger interface {
	// Processed reports whether key was marked processed in this partition.
	Processed(ctx context.Context, partition, key string) (bool, error)
	// MarkProcessed records key as processed in this partition at the given
	// time. Marking twice is not an error.
	MarkProcessed(ctx context.Context, partition, key string, at time.Time) error
}

// Grant is a time-bound access grant (JIT request, PIM assignment) to check when
// it is due.
type Grant struct {
	ID          string          `json:"id"`
	Rule        string          `json:"rule"` // the GrantRule that checks it
	Kind        string          `json:"kind"` // jit or pim
	ResourceID  string          `json:"resourceId"`
	PrincipalID string          `json:"principalId,omitempty"`
	Start       time.Time       `json:"start"`
	End         time.Time       `json:"end"` // when it must be gone: window end plus grace
	Details     json.RawMessage `json:"details,omitempty"`
}

// Grants keeps grants until they have been checked after their end.
type Grants interface {
	// PutGrant stores or replaces a grant (by ID).
	PutGrant(ctx context.Context, g Grant) error
	// DueGrants returns grants whose End is at or before the given time, sorted by End then ID.
	DueGrants(ctx context.Context, before time.Time) ([]Grant, error)
	// DeleteGrant removes a grant; removing one that is absent is not an error.
	DeleteGrant(ctx context.Context, id string) error
}

// OutboxItem is a notification or remediation waiting to be delivered.
type OutboxItem struct {
	ID          string          `json:"id"`        // idempotency key: enqueueing it twice keeps one
	Partition   string          `json:"partition"` // of the finding it is about (PartitionOf), where it is kept
	Kind        string          `json:"kind"`      // e.g. notify.teams, remediate
	Payload     json.RawMessage `json:"payload"`
	CreatedAt   time.Time       `json:"createdAt"`
	NextAttempt time.Time       `json:"nextAttempt"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"lastError,omitempty"`
	Failed      bool            `json:"failed,omitempty"` // given up on: kept with its reason, never due again
}

// Outbox keeps deliveries until they succeed, so that a failure downstream never
// loses one.
type Outbox interface {
	// Enqueue adds an item; an item with the same ID already there is kept as it is.
	Enqueue(ctx context.Context, it OutboxItem) error
	// DueItems returns up to limit items whose NextAttempt is at or before now,
	// oldest NextAttempt first (ties in enqueue order). A limit <= 0 returns nothing.
	DueItems(ctx context.Context, now time.Time, limit int) ([]OutboxItem, error)
	// Claim takes a due item for one sender before it is sent, so that
	// instances dispatching one outbox at the same moment send it once: a
	// compare-and-set of its NextAttempt from due (as DueItems returned it) to
	// until, the end of the lease. True when this caller won; false, with no
	// error, when the item is absent, Failed, or its NextAttempt is no longer
	// due (another caller claimed, retried or failed it). An item whose
	// claimer dies is due again at until. Call it outside a Batch.
	Claim(ctx context.Context, partition, id string, due, until time.Time) (bool, error)
	// Complete removes a delivered item; completing an absent one is not an error.
	Complete(ctx context.Context, partition, id string) error
	// Retry records a failed attempt and when to try again; ErrNotFound if absent.
	Retry(ctx context.Context, partition, id string, next time.Time, lastErr string) error
	// Fail gives up on an item after a last failed attempt: it is kept, Failed,
	// with the reason as LastError, and is never due again; ErrNotFound if absent.
	Fail(ctx context.Context, partition, id, reason string) error
	// ListOutbox returns every item kept, pending and failed, oldest CreatedAt
	// first (then by ID).
	ListOutbox(ctx context.Context) ([]OutboxItem, error)
}

// AuditRecord is one entry of the append-only, hash-chained audit trail (see
// AuditHash for what Hash covers, and VerifyAudit for how a chain is checked).
// The trail is one chain per partition, and the chain of seals (SealPartition)
// that orders them all.
type AuditRecord struct {
	// Partition is the chain the record belongs to: PartitionOf the resource it
	// is about, or SealPartition. "" only in a trail kept before partitions.
	Partition string `json:"partition,omitempty"`
	// Seq is assigned by the store: 1, 2, 3, … without gaps, in its partition.
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`    // e.g. change, finding.open
	Subject string          `json:"subject"` // usually a resource ID or finding ID
	Data    json.RawMessage `json:"data,omitempty"`
	// PrevHash is the Hash of the record with Seq-1 in the partition, and ""
	// for Seq 1; the store sets it.
	PrevHash string `json:"prevHash"`
	// Hash is AuditHash of this record (hex SHA-256); the store sets it.
	Hash string `json:"hash"`
}

// Audit is the append-only trail: one hash chain per partition, so that
// appenders of different resources never wait for each other, and a chain of
// seals (SealPartition, written by the sweep timer) that chains the heads of
// the partitions into one global order (SealData). Each record's PrevHash is
// the Hash of the record before it in its partition, so that altering,
// removing, inserting or reordering a stored record breaks the chain where it
// happened (VerifyAudit finds it).
type Audit interface {
	// AppendAudit appends a record to the chain of rec.Partition (which must
	// not be empty) and returns it as stored: with the partition's next Seq (1
	// for its first record, then without gaps), PrevHash the Hash of the
	// partition's record before it, and Hash, all three set atomically with
	// the append, so that concurrent appenders still build one valid chain. The
	// Seq, PrevHash and Hash given are ignored; At is kept in UTC, and Data byte
	// for byte, since the hash covers its bytes.
	AppendAudit(ctx context.Context, rec AuditRecord) (AuditRecord, error)
	// ListAudit returns the partition's records with Seq greater than after, in
	// Seq order, up to limit (a limit <= 0 returns nothing), as stored: a
	// record altered or removed behind the store's back is returned altered or
	// not at all, for VerifyAudit to find.
	ListAudit(ctx context.Context, partition string, after int64, limit int) ([]AuditRecord, error)
	// AuditHeads returns the last record of every partition's chain whose last
	// record's At is at or after since (the zero time: every chain), the seal
	// chain included, sorted by partition.
	AuditHeads(ctx context.Context, since time.Time) ([]AuditHead, error)
}

// PoisonRecord is input that could not be processed, kept with the reason so that
// nothing is lost and a person can look.
type PoisonRecord struct {
	ID     string    `json:"id"` // stable hash of source + body: the same bad input is kept once
	Source string    `json:"source"`
	Reason string    `json:"reason"`
	Body   string    `json:"body"`
	At     time.Time `json:"at"`
}

// Poison keeps input that could not be processed.
type Poison interface {
	// PutPoison keeps a record; one with the same ID already there is kept as it is.
	PutPoison(ctx context.Context, p PoisonRecord) error
	// ListPoison returns every kept record, oldest first.
	ListPoison(ctx context.Context) ([]PoisonRecord, error)
}
