package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/storetest"
)

func TestStoreFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) guard.Store {
		return openTest(t, filepath.Join(t.TempDir(), "exportguard.db"))
	})
}

func TestStoreMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) guard.Store {
		return openTest(t, Memory)
	})
}

// TestTwoStoresOnOneFile is two processes sharing a file: UpdateFinding is
// atomic between them too.
func TestTwoStoresOnOneFile(t *testing.T) {
	const goroutines, updates = 4, 25 // per store: 2 × 4 × 25 = 200 updates
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	const id = "f-shared"
	_, err := stores[0].UpdateFinding(t.Context(), partSA, id, func(*guard.Finding) (*guard.Finding, error) {
		return &guard.Finding{ID: id, Rule: guard.RuleResidencyLocation, Status: guard.StatusOpen,
			ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa",
			Evidence:   map[string]any{"count": 0}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i, s := range stores {
		for g := range goroutines {
			wg.Go(func() {
				for u := range updates {
					_, err := s.UpdateFinding(t.Context(), partSA, id, func(cur *guard.Finding) (*guard.Finding, error) {
						n, ok := cur.Evidence["count"].(float64)
						if !ok {
							return nil, fmt.Errorf("count is %T, want float64", cur.Evidence["count"])
						}
						next := *cur
						next.Evidence = map[string]any{"count": n + 1}
						return &next, nil
					})
					if err != nil {
						t.Errorf("store %d, goroutine %d, update %d: %v", i, g, u, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()

	for i, s := range stores {
		f, err := s.GetFinding(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := f.Evidence["count"], float64(len(stores)*goroutines*updates); got != want {
			t.Errorf("count read by store %d: got %v, want %v", i, got, want)
		}
	}
}

// A write that waits for a batch of the same process for longer than the busy
// timeout gives up with guard.ErrConflict, as one waiting for another process
// does, rather than waiting for ever; once the batch ends, writes go through.
func TestWriterOfThisProcessBusyGivesUpWithConflict(t *testing.T) {
	s, err := open(t.Context(), filepath.Join(t.TempDir(), "writer.db"), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	inBatch, done := make(chan struct{}), make(chan struct{})
	batchErr := make(chan error, 1)
	go func() {
		batchErr <- s.Batch(t.Context(), func(ctx context.Context) error {
			// A batch holds the writer from its first write on.
			err := s.MarkProcessed(ctx, partSA, "in-batch", time.Now())
			close(inBatch)
			<-done
			return err
		})
	}()
	<-inBatch
	err = s.MarkProcessed(t.Context(), partSA, "outside", time.Now())
	if !errors.Is(err, guard.ErrConflict) {
		t.Errorf("MarkProcessed while a batch holds the writer: got %v, want one wrapping guard.ErrConflict", err)
	}
	close(done)
	if err := <-batchErr; err != nil {
		t.Fatalf("batch: %v", err)
	}
	if err := s.MarkProcessed(t.Context(), partSA, "outside", time.Now()); err != nil {
		t.Errorf("MarkProcessed after the batch: %v", err)
	}
	for _, key := range []string{"in-batch", "outside"} {
		if ok, err := s.Processed(t.Context(), partSA, key); err != nil || !ok {
			t.Errorf("Processed(%s) = %v, %v; want true", key, ok, err)
		}
	}
}

// TestBusyGivesUpWithConflict holds the write lock from another connection for
// longer than the store waits.
func TestBusyGivesUpWithConflict(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	openTest(t, path) // creates the schema
	s, err := open(t.Context(), path, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}

	calls := 0
	_, err = s.UpdateFinding(t.Context(), partSA, "f-1", func(*guard.Finding) (*guard.Finding, error) {
		calls++
		return &guard.Finding{ID: "f-1", ResourceID: resSA}, nil
	})
	if !errors.Is(err, guard.ErrConflict) {
		t.Errorf("UpdateFinding while another holds the write lock: got error %v, want one wrapping guard.ErrConflict", err)
	}
	if calls != 0 {
		t.Errorf("fn called %d times, want 0", calls)
	}

	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFinding(t.Context(), partSA, "f-1", func(*guard.Finding) (*guard.Finding, error) {
		return &guard.Finding{ID: "f-1", ResourceID: resSA}, nil
	}); err != nil {
		t.Errorf("UpdateFinding once the lock is released: %v", err)
	}
}

func TestReopenKeepsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reopen.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkProcessed(t.Context(), partSA, "k", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	ok, err := s.Processed(t.Context(), partSA, "k")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Errorf("Processed after reopening: got false, want true")
	}
	var version int
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion {
		t.Errorf("user_version: got %d, want %d", version, schemaVersion)
	}
	var mode string
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode: got %q, want wal", mode)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	s := openTest(t, path)
	if _, err := s.db.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", schemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), path)
	if err == nil {
		s2.Close()
		t.Fatal("Open of a newer schema: got no error, want one")
	}
}

func TestOpenNeedsTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.db")
	s, err := Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open in a missing directory: got no error, want one")
	}
	if _, statErr := os.Stat(filepath.Dir(path)); !errors.Is(statErr, os.ErrNotExist) {
		t.Errorf("Open created the directory (stat: %v)", statErr)
	}
}

func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "store.db")
	openTest(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the database is not where it was asked to be: %v", err)
	}
}

func TestMemoryStoresAreSeparate(t *testing.T) {
	a, b := openTest(t, Memory), openTest(t, Memory)
	if err := a.MarkProcessed(t.Context(), partSA, "k", time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.Processed(t.Context(), partSA, "k"); err != nil || ok {
		t.Errorf("Processed in another memory store: got %v, %v, want false, nil", ok, err)
	}
}

// TestRawJSONVerbatim: raw JSON comes back byte for byte, spacing and escapes
// included (the contract suite compares it by meaning only).
func TestRawJSONVerbatim(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Memory)
	body := json.RawMessage("{\n  \"id\": \"/subscriptions/s/x\",  \"tag\": \"<a & b>\",\n  \"n\": 1.50\n}")
	if err := s.PutResource(ctx, &guard.Resource{ID: "/subscriptions/s/x", Body: body}); err != nil {
		t.Fatal(err)
	}
	r, err := s.GetResource(ctx, "/subscriptions/s/x")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Body, body) {
		t.Errorf("Body: got %s, want %s", r.Body, body)
	}

	if err := s.Enqueue(ctx, guard.OutboxItem{ID: "o", Partition: partSA, Payload: body}); err != nil {
		t.Fatal(err)
	}
	its, err := s.DueItems(ctx, time.Now(), 1)
	if err != nil || len(its) != 1 {
		t.Fatalf("DueItems: got %v, %v, want one item", its, err)
	}
	if !bytes.Equal(its[0].Payload, body) {
		t.Errorf("Payload: got %s, want %s", its[0].Payload, body)
	}

	if _, err := s.AppendAudit(ctx, guard.AuditRecord{Partition: partSA, Kind: "k", Data: body}); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, partSA, 0, 1)
	if err != nil || len(recs) != 1 {
		t.Fatalf("ListAudit: got %v, %v, want one record", recs, err)
	}
	if !bytes.Equal(recs[0].Data, body) {
		t.Errorf("Data: got %s, want %s", recs[0].Data, body)
	}

	if err := s.PutGrant(ctx, guard.Grant{ID: "g", Details: body}); err != nil {
		t.Fatal(err)
	}
	gs, err := s.DueGrants(ctx, time.Now())
	if err != nil || len(gs) != 1 {
		t.Fatalf("DueGrants: got %v, %v, want one grant", gs, err)
	}
	if !bytes.Equal(gs[0].Details, body) {
		t.Errorf("Details: got %s, want %s", gs[0].Details, body)
	}
}

// TestCanceledUpdateLeavesNoTransaction: a write whose context ends does not
// leave its connection inside a transaction (which would block every later write).
func TestCanceledUpdateLeavesNoTransaction(t *testing.T) {
	s := openTest(t, Memory)
	ctx, cancel := context.WithCancel(t.Context())
	_, err := s.UpdateFinding(ctx, partSA, "f-1", func(*guard.Finding) (*guard.Finding, error) {
		cancel()
		return &guard.Finding{ID: "f-1", ResourceID: resSA}, nil
	})
	if err == nil {
		t.Log("UpdateFinding finished before it saw the cancellation")
	}
	if _, err := s.UpdateFinding(t.Context(), partSA, "f-2", func(*guard.Finding) (*guard.Finding, error) {
		return &guard.Finding{ID: "f-2", ResourceID: resSA}, nil
	}); err != nil {
		t.Errorf("UpdateFinding after a canceled one: %v", err)
	}
}

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// A panic inside a batch (a bug in the pipeline, which the handler survives)
// leaves no transaction open: the next write goes through at once.
func TestPanicInBatchReleasesTheDatabase(t *testing.T) {
	s, err := open(t.Context(), filepath.Join(t.TempDir(), "panic.db"), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the batch did not panic")
			}
		}()
		_ = s.Batch(t.Context(), func(ctx context.Context) error {
			if err := s.MarkProcessed(ctx, partSA, "in-batch", time.Now()); err != nil {
				return err
			}
			panic("pipeline bug")
		})
	}()
	if err := s.MarkProcessed(t.Context(), partSA, "after", time.Now()); err != nil {
		t.Fatalf("MarkProcessed after a batch panicked: %v", err)
	}
	if ok, _ := s.Processed(t.Context(), partSA, "in-batch"); ok {
		t.Error("the panicked batch's write was kept")
	}
}
