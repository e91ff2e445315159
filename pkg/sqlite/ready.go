package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// What a store that can be opened and read may still be unable to do, and how
// Ready finds out. Each was tried on Linux (ext4, and a tmpfs of 8 MB for the
// full disk) with this driver:
//
//   - A file that cannot be opened for writing (immutable, chattr +i; or mode
//     0444 for a user other than root) opens read-only without an error, and
//     every write fails with SQLITE_READONLY. A write transaction (BEGIN
//     IMMEDIATE and an INSERT), rolled back, fails the same way.
//   - A file made immutable under a running process goes on taking writes: they
//     land in the WAL, which is a file of its own. What fails is copying them
//     back (the checkpoint: SQLITE_IOERR_WRITE), which SQLite does on its own
//     after a commit and ignores when it fails; Ready runs one (PASSIVE).
//   - A full disk: the rolled-back transaction succeeds, since SQLite keeps an
//     uncommitted transaction's pages in memory; a commit fails with
//     SQLITE_FULL once the WAL must grow, and a checkpoint once the file must.
//     So Ready asks the file system how much room is left (diskfree_*.go)
//     before it checkpoints. (A file closed cleanly does not even open on a
//     full disk: its -shm file cannot be made, SQLITE_IOERR_SHMSIZE.)
//   - A corrupt file (64 KB of random bytes in the middle) opens, reads and
//     takes writes on pages it does not touch; PRAGMA quick_check finds it
//     (integrityCheck). Open runs it, and so does Ready every integrityEvery.
const (
	// minFree is the room Ready requires on the store's file system: the WAL
	// grows by up to SQLite's automatic checkpoint (1000 pages, 4 MiB at the
	// default page size) before it is copied back and reused.
	minFree = 4 << 20
	// integrityEvery is how often Ready runs the integrity check again on a
	// store that is open: a file corrupted under the process (a bad disk, a
	// copy over it) turns the health check to 503 within this time. The check
	// reads the whole file, about 150 ms for 100,000 findings (see
	// integrityCheck), so a health probe every minute runs it on one in ten.
	integrityEvery = 10 * time.Minute
	// readinessKey is the ledger key of the write Ready tries and rolls back.
	readinessKey = "exportguard:readiness"
)

// errRolledBack ends Ready's write transaction: write rolls back when its
// function fails.
var errRolledBack = errors.New("readiness write rolled back")

// Ready reports whether the store can take writes now: it runs a write
// transaction and rolls it back, checks that the disk has room, copies the WAL
// back into the file (a checkpoint), and every integrityEvery runs the
// integrity check again. The errors name the file and what failed.
func (s *Store) Ready(ctx context.Context) error {
	err := s.write(ctx, func(q querier) error {
		if _, err := q.ExecContext(ctx, sqlLedgerReady, readinessKey, formatTime(time.Now())); err != nil {
			return err
		}
		return errRolledBack
	})
	if !errors.Is(err, errRolledBack) {
		return fmt.Errorf("sqlite: %s: a write transaction failed: %w", s.path, err)
	}
	if s.path == Memory {
		return nil
	}
	free, known, err := diskFree(filepath.Dir(s.path))
	if err != nil {
		return fmt.Errorf("sqlite: %s: free disk space: %w", s.path, err)
	}
	if known && free < minFree {
		return fmt.Errorf("sqlite: %s: the disk is full: %d KiB free, want at least %d KiB", s.path, free>>10, minFree>>10)
	}
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		return fmt.Errorf("sqlite: %s: copying the WAL into the file failed: %w", s.path, err)
	}
	return s.recheck(ctx)
}

// sqlLedgerReady is Ready's write: an upsert, so that it changes a row whether
// or not one is there (it never is: the transaction is rolled back).
// It is in a partition no resource has (those start with "/").
const sqlLedgerReady = "INSERT INTO ledger (partition, key, at) VALUES ('~readiness', ?, ?) ON CONFLICT (partition, key) DO UPDATE SET at = excluded.at"

// recheck runs the integrity check when the last one is integrityEvery old,
// and otherwise returns what the last one found.
func (s *Store) recheck(ctx context.Context) error {
	s.checkMu.Lock()
	defer s.checkMu.Unlock()
	if now := s.now(); now.Sub(s.checked) >= s.checkEvery {
		s.checkErr = s.integrityCheck(ctx)
		s.checked = now
	}
	if s.checkErr != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, s.checkErr)
	}
	return nil
}

// checkLines is how many lines of quick_check's answer an error quotes.
const checkLines = 3

// integrityCheck runs PRAGMA quick_check and fails when the file is corrupt,
// with the first lines of what SQLite found (the caller names the file). quick_check reads every page and
// checks each b-tree and the count of each index; integrity_check also checks
// that every index holds the rows of its table. On a store of 100,000 findings
// and 100,000 audit records (131 MB, in the page cache), quick_check took 135
// to 170 ms and integrity_check 440 ms: quick_check, with the page-level
// damage of a bad disk or a partial overwrite, is what Open can afford.
//
// It runs on a connection of its own, opened for it: the pool's connections
// keep the pages they read, and would check those rather than the file.
func (s *Store) integrityCheck(ctx context.Context) error {
	db, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(10)")
	if err != nil {
		return fmt.Errorf("the integrity check (PRAGMA quick_check) could not run: %w", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return fmt.Errorf("integrity check: %w", err)
		}
		lines = append(lines, strings.Split(strings.TrimSpace(l), "\n")...)
	}
	err = rows.Err()
	if err == nil && len(lines) == 1 && lines[0] == "ok" {
		return nil
	}
	more := ""
	if len(lines) > checkLines {
		more = fmt.Sprintf(" (and %d more lines)", len(lines)-checkLines)
		lines = lines[:checkLines]
	}
	if err != nil {
		lines = append(lines, err.Error())
	}
	return fmt.Errorf("the file is corrupt (PRAGMA quick_check: %s%s): restore it from a copy, or move it aside and start a new one",
		strings.Join(lines, "; "), more)
}
