package sqlite

import (
	"context"
	"sync"
	"time"
)

// A file store's commits append pages to the write-ahead log; a checkpoint
// copies them into the database file (and syncs both, under
// synchronous=NORMAL). SQLite runs it in the committing writer once the log
// holds 1000 pages (wal_autocheckpoint), so every few hundred deliveries one
// of them waited for the copy and its syncs: 10 to 15% of the embedded
// store's time in `make bench`, all of it on the write path.
//
// The checkpointer runs PASSIVE checkpoints on a connection of the pool after
// commits instead, beside the writer (which a PASSIVE checkpoint never
// blocks), at most one every checkpointEvery. The automatic checkpoint stays
// on: when it comes round, the log has been copied already and it has nothing
// left to do; if the checkpointer falls behind, it does the work as before, so
// the log stays as bounded as it always was.
// https://sqlite.org/wal.html#automatic_checkpoint,
// https://sqlite.org/pragma.html#pragma_wal_checkpoint

// checkpointEvery is the shortest time between two background checkpoints:
// each syncs the log and the database file.
const checkpointEvery = 20 * time.Millisecond

type checkpointer struct {
	kick chan struct{} // a commit since the last checkpoint (buffered, 1)
	stop chan struct{} // closed by Close
	done sync.WaitGroup
}

// startCheckpointer starts the background checkpoints of a file store.
func (s *Store) startCheckpointer() {
	c := &checkpointer{kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.ckpt = c
	c.done.Go(func() {
		for {
			select {
			case <-c.stop:
				return
			case <-c.kick:
			}
			// A failed checkpoint (another process's, a reader still on an
			// old snapshot: SQLITE_BUSY) leaves the pages in the log, where
			// the next checkpoint, or the writer's own, copies them.
			_, _ = s.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
			select {
			case <-c.stop:
				return
			case <-time.After(checkpointEvery):
			}
		}
	})
}

// committed tells the checkpointer that a write transaction committed.
func (s *Store) committed() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt.kick <- struct{}{}:
	default: // one is due already
	}
}

// stopCheckpointer stops the background checkpoints and waits for the one in
// progress; closing the database checkpoints what is left.
func (s *Store) stopCheckpointer() {
	if s.ckpt == nil {
		return
	}
	close(s.ckpt.stop)
	s.ckpt.done.Wait()
}
