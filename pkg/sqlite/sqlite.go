// Package sqlite is exportguard's default store: a guard.Store in one SQLite
// database file (or in memory), with no server to run. Local runs, replay and
// tests use it; a deployment that needs a shared, managed store uses Cosmos DB
// instead, and both pass the same contract suite (pkg/storetest).
//
// It uses modernc.org/sqlite, a pure Go SQLite, so that exportguard builds
// without cgo. Each record is kept as a JSON document in a text column, next to
// the few columns its keys, filters and ordering need. Writes run in BEGIN
// IMMEDIATE transactions, so that they are atomic also between processes sharing
// one file; a file store uses the WAL journal, so readers never wait for them.
// The pipeline makes each delivery one transaction (Batch, guard.Batcher) and
// each change in it a savepoint (a nested Batch, atomic on its own), and the
// statements it runs on every record are prepared once (tx.go).
//
// The tables keep the partitions of DESIGN 6 (guard.PartitionOf) as a column
// where the model names one: findings, the ledger, the outbox and the audit
// chains (one per partition, PRIMARY KEY (partition, seq), with each chain's
// head in audit_heads). A file of the layout before partitions is refused by
// Open, unchanged, with the command that copies it (migrate).
//
// A store that opens and reads may still be unable to write (a read-only file,
// a full disk) or be corrupt, and go on answering until a reader trips: Open
// refuses a file that fails SQLite's integrity check, and Ready, the health
// check, proves that a write would go through (ready.go).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/exportguard/exportguard/pkg/guard"
)

var _ guard.Store = (*Store)(nil)

// Memory is the path of a store that lives in memory and is gone once closed.
const Memory = ":memory:"

const (
	// busyTimeout is how long one statement waits for another connection's
	// write lock before SQLite reports SQLITE_BUSY.
	busyTimeout = 5 * time.Second
	// writeAttempts is how often a write transaction is tried while the
	// database stays busy, before the store gives up with guard.ErrConflict.
	writeAttempts = 5
)

// Store is a guard.Store in one SQLite database. It is safe for concurrent use,
// also by several processes sharing the file.
type Store struct {
	db    *sql.DB
	path  string
	dsn   string               // the driver's name for it (dataSource)
	stmts map[string]*sql.Stmt // the prepared statements (see prepared), read-only after Open
	// writer is held by the write transaction in progress in this process.
	// SQLite makes a second writer wait by sleeping and polling (up to 100 ms
	// a sleep), which turned into latency spikes under concurrent
	// invocations; writers of one process wait here instead and start the
	// moment the lock is free. Writers in other processes still meet at
	// SQLite's lock (busy_timeout).
	writer chan struct{}
	busy   time.Duration // how long a writer waits for another (busyTimeout but in tests)

	// The integrity check Ready repeats (ready.go): when it last ran, and what
	// it found; checkEvery and now are integrityEvery and time.Now but in tests.
	checkMu    sync.Mutex
	checked    time.Time
	checkErr   error
	checkEvery time.Duration
	now        func() time.Time
}

// Open opens the store at path, creating the file (but not its directory) and
// its schema when it is missing. A file of the layout before partitions is
// refused with an error wrapping ErrOldLayout. A file that fails SQLite's
// integrity check (PRAGMA quick_check) is refused. Path ":memory:" opens a store
// that lives in memory until it is closed.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, busyTimeout)
}

// open is Open with the time a statement waits for a write lock.
func open(ctx context.Context, path string, busy time.Duration) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	memory := path == Memory
	dsn, err := dataSource(path, busy)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if memory {
		// Every connection to ":memory:" opens a database of its own: keep one
		// connection, open for as long as the store is. Writes hold it for their
		// transaction and use nothing else, so they cannot deadlock.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	s := &Store{db: db, path: path, dsn: dsn, writer: make(chan struct{}, 1), busy: busy, checkEvery: integrityEvery, now: time.Now}
	if !memory {
		// Before anything is written to it: a corrupt file is refused, not
		// migrated, and not handed to the pipeline.
		if err := s.integrityCheck(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.checked = s.now()
	}
	if err := s.setup(ctx, memory); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.prepareAll(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database. A store in memory is gone afterwards.
func (s *Store) Close() error {
	for _, st := range s.stmts {
		st.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// dataSource is the driver's name for the database at path. Files are named by
// URI, so that any character may appear in a path; the query parameters are the
// driver's and set up every new connection. _txlock makes every transaction
// BEGIN IMMEDIATE: it takes the write lock at once, so that two writers never
// both read and then fail to upgrade (SQLITE_BUSY mid-transaction).
func dataSource(path string, busy time.Duration) (string, error) {
	params := fmt.Sprintf("?_pragma=busy_timeout(%d)&_txlock=immediate", busy.Milliseconds())
	if path == Memory {
		return Memory + params, nil
	}
	// In WAL mode, synchronous=NORMAL syncs the log at checkpoints rather than
	// at every commit: a commit costs no fsync (one is 2 ms or more on a cloud
	// disk, more than a whole delivery's work), the database is never
	// corrupted, and a process that dies (killed, out of memory, panicked)
	// loses nothing committed. What it gives up is durability across a power
	// loss or an OS crash, which can roll back the last commits; SQLite's
	// documentation (https://sqlite.org/pragma.html#pragma_synchronous) and
	// Rails' SQLite defaults make the same choice. A deployment that must
	// survive power loss without a replay from Event Hubs uses Cosmos DB.
	params += "&_pragma=synchronous(NORMAL)"
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	return "file://" + p + params, nil
}

// setup selects the journal and creates or migrates the schema.
func (s *Store) setup(ctx context.Context, memory bool) error {
	if !memory {
		var mode string
		err := retryBusy(ctx, func() error {
			return s.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		})
		if err != nil {
			return fmt.Errorf("set WAL journal: %w", err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("set WAL journal: journal mode is %q", mode)
		}
	}
	return s.write(ctx, func(q querier) error { return migrate(ctx, q, s.path) })
}

// schemaV1 is the layout before partitions (issue 15): one audit chain, a
// ledger and an outbox without partitions. Open refuses a file in it (see
// migrate); the legacy reader reads it, and tests make such files with it.
const schemaV1 = `
CREATE TABLE findings (
	id     TEXT PRIMARY KEY,
	id_key TEXT NOT NULL, -- guard.IDKey of the resource ID
	rule   TEXT NOT NULL,
	status TEXT NOT NULL,
	doc    TEXT NOT NULL  -- the guard.Finding as JSON
);
CREATE INDEX findings_by_resource ON findings (id_key, rule, id);
CREATE INDEX findings_by_status ON findings (status, id_key, rule, id);
CREATE INDEX findings_by_rule ON findings (rule, id_key, id);

CREATE TABLE resources (
	id_key TEXT PRIMARY KEY, -- guard.IDKey of the resource ID
	doc    TEXT NOT NULL,    -- the guard.Resource as JSON, without its body
	body   BLOB              -- the body, verbatim
);

CREATE TABLE ledger (
	key TEXT PRIMARY KEY,
	at  TEXT NOT NULL
);

CREATE TABLE grants (
	id      TEXT PRIMARY KEY,
	end_at  TEXT NOT NULL, -- End, in timeFormat
	doc     TEXT NOT NULL, -- the guard.Grant as JSON, without its details
	details BLOB           -- the details, verbatim
);
CREATE INDEX grants_by_end ON grants (end_at, id);

CREATE TABLE outbox (
	id           TEXT PRIMARY KEY,
	next_attempt TEXT NOT NULL, -- NextAttempt, in timeFormat
	doc          TEXT NOT NULL, -- the guard.OutboxItem as JSON, without its payload
	payload      BLOB           -- the payload, verbatim
);
CREATE INDEX outbox_by_next_attempt ON outbox (next_attempt);

CREATE TABLE audit (
	seq  INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	doc  TEXT NOT NULL, -- the guard.AuditRecord as JSON, without its seq and data
	data BLOB           -- the data, verbatim
);

CREATE TABLE poison (
	id  TEXT PRIMARY KEY,
	at  TEXT NOT NULL, -- At, in timeFormat
	doc TEXT NOT NULL  -- the guard.PoisonRecord as JSON
);
CREATE INDEX poison_by_at ON poison (at);
`

// schemaV2 is the layout of partitions (DESIGN 6): findings, event keys, audit
// chains and outbox items each name the partition (guard.PartitionOf) they
// belong to. Grants, poison and resources (whose partition is derived from
// their ID) are as in version 1.
const schemaV2 = `
CREATE TABLE findings (
	id        TEXT PRIMARY KEY,
	partition TEXT NOT NULL, -- guard.PartitionOf the resource ID
	id_key    TEXT NOT NULL, -- guard.IDKey of the resource ID
	rule      TEXT NOT NULL,
	status    TEXT NOT NULL,
	doc       TEXT NOT NULL  -- the guard.Finding as JSON
);
CREATE INDEX findings_by_resource ON findings (id_key, rule, id);
CREATE INDEX findings_by_status ON findings (status, id_key, rule, id);
CREATE INDEX findings_by_rule ON findings (rule, id_key, id);

CREATE TABLE resources (
	id_key TEXT PRIMARY KEY, -- guard.IDKey of the resource ID
	doc    TEXT NOT NULL,    -- the guard.Resource as JSON, without its body
	body   BLOB              -- the body, verbatim
);

CREATE TABLE ledger (
	partition TEXT NOT NULL,
	key       TEXT NOT NULL,
	at        TEXT NOT NULL,
	PRIMARY KEY (partition, key)
);

CREATE TABLE grants (
	id      TEXT PRIMARY KEY,
	end_at  TEXT NOT NULL, -- End, in timeFormat
	doc     TEXT NOT NULL, -- the guard.Grant as JSON, without its details
	details BLOB           -- the details, verbatim
);
CREATE INDEX grants_by_end ON grants (end_at, id);

CREATE TABLE outbox (
	partition    TEXT NOT NULL,
	id           TEXT NOT NULL,
	next_attempt TEXT NOT NULL, -- NextAttempt, in timeFormat
	doc          TEXT NOT NULL, -- the guard.OutboxItem as JSON, without its payload
	payload      BLOB,          -- the payload, verbatim
	PRIMARY KEY (partition, id)
);
CREATE INDEX outbox_by_next_attempt ON outbox (next_attempt);

CREATE TABLE audit (
	partition TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	doc       TEXT NOT NULL, -- the guard.AuditRecord as JSON, without its partition, seq and data
	data      BLOB,          -- the data, verbatim
	PRIMARY KEY (partition, seq)
) WITHOUT ROWID;

-- The head of each partition's chain: the Seq and Hash of the last record
-- appended, and its At. It is the highest Seq ever used in the partition, so
-- that records deleted from the end of a chain behind the store's back leave a
-- gap once the next record is appended, which VerifyAudit reports, rather than
-- Seqs taken again; and AuditHeads reads it rather than every chain.
CREATE TABLE audit_heads (
	partition TEXT PRIMARY KEY,
	seq       INTEGER NOT NULL,
	hash      TEXT NOT NULL,
	at        TEXT NOT NULL  -- the record's At, in timeFormat
);
CREATE INDEX audit_heads_by_at ON audit_heads (at);

CREATE TABLE poison (
	id  TEXT PRIMARY KEY,
	at  TEXT NOT NULL, -- At, in timeFormat
	doc TEXT NOT NULL  -- the guard.PoisonRecord as JSON
);
CREATE INDEX poison_by_at ON poison (at);
`

// schemaVersion is the PRAGMA user_version of schemaV2; version 1 is schemaV1.
const schemaVersion = 2

// ErrOldLayout is returned (wrapped) by Open for a file in the layout before
// partitions: it is copied to a new file by `exportguard store migrate`, never
// changed in place.
var ErrOldLayout = errors.New("the store has the layout before partitions")

// migrate creates the schema of a new file; it runs in a write transaction, so
// two processes opening a new file at once create it once. A file of schema
// version 1 is refused, unchanged: its single audit chain cannot become
// partition chains in place (the hashes cover the layout), so it is copied.
func migrate(ctx context.Context, q querier, path string) error {
	var version int
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case version == schemaVersion:
		return nil
	case version == 1:
		return fmt.Errorf("%w (schema version 1): copy it into a new file with `exportguard store migrate --from sqlite:%s --to sqlite:NEW` and open that one", ErrOldLayout, path)
	case version > schemaVersion:
		return fmt.Errorf("schema version %d is newer than this build knows (%d)", version, schemaVersion)
	}
	if _, err := q.ExecContext(ctx, schemaV2); err != nil {
		return fmt.Errorf("create schema version %d: %w", schemaVersion, err)
	}
	if _, err := q.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("create schema version %d: %w", schemaVersion, err)
	}
	return nil
}

// querier runs SQL: on the pool (poolQuerier) or in a transaction (txQuerier),
// with the prepared statement of a registered text (see prepared).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) on a connection of its
// own, and commits when fn returns nil. fn must use only q. While the database
// is busy (another connection or process holds the write lock for longer than
// busyTimeout), write tries again, a bounded number of times, and then returns
// an error wrapping guard.ErrConflict. fn may therefore run more than once.
// Under a Batch's context, fn runs in the batch's transaction instead, and
// must make at most one change (see batch.run).
func (s *Store) write(ctx context.Context, fn func(q querier) error) error {
	if b := s.batchOf(ctx); b != nil {
		return b.run(fn)
	}
	return retryBusy(ctx, func() error { return s.writeOnce(ctx, fn) })
}

func (s *Store) writeOnce(ctx context.Context, fn func(q querier) error) error {
	release, err := s.lockWriter(ctx)
	if err != nil {
		return err
	}
	defer release()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a panic in fn too; after Commit, a no-op
	if err := fn(newTxQuerier(s, tx)); err != nil {
		return err
	}
	return tx.Commit()
}

// errWriterBusy is how long waiting for this process's writer is reported: as
// SQLite's own busy error would be, so that retryBusy tries again and then
// gives up with guard.ErrConflict.
var errWriterBusy = errors.New("sqlite: another write of this process held the database for longer than the busy timeout")

// lockWriter waits, for at most the busy timeout, until no other write transaction
// of this process is in progress, and returns the function that lets the next
// one start.
func (s *Store) lockWriter(ctx context.Context) (release func(), err error) {
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	default:
	}
	t := time.NewTimer(s.busy)
	defer t.Stop()
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, errWriterBusy
	}
}

// retryBusy runs op until it succeeds, fails for a reason other than a busy
// database, or has been tried writeAttempts times.
func retryBusy(ctx context.Context, op func() error) error {
	var err error
	for attempt := 1; attempt <= writeAttempts; attempt++ {
		err = op()
		if err == nil || !isBusy(err) {
			return err
		}
		if attempt == writeAttempts {
			break
		}
		// busyTimeout has been waited already; a short pause lets the holder of
		// the lock finish.
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: database still busy after %d attempts: %w", guard.ErrConflict, writeAttempts, err)
}

// isBusy reports whether err is SQLite's "database is locked" (SQLITE_BUSY or
// SQLITE_LOCKED, with any extended code).
func isBusy(err error) bool {
	if errors.Is(err, errWriterBusy) {
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// timeFormat is how times are kept in columns: RFC 3339 in UTC with all nine
// digits of the fraction, so that text order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// utc returns t in UTC, without a monotonic clock reading.
func utc(t time.Time) time.Time { return t.UTC().Round(0) }

// raw returns b for a BLOB column: NULL when empty.
func raw(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}
