package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

const resSA = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"

var partSA = guard.PartitionOf(resSA)

// A file with the layout before partitions (schema version 1, as Open made it
// until issue 15) is refused, unchanged, with the command that copies it.
func TestOpenRefusesTheOldLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"PRAGMA journal_mode=WAL", schemaV1, "PRAGMA user_version = 1",
		`INSERT INTO ledger (key, at) VALUES ('k', '2026-01-01T00:00:00.000000000Z')`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	s, err := Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of the old layout: no error, want a refusal")
	}
	if !errors.Is(err, ErrOldLayout) || !strings.Contains(err.Error(), "exportguard store migrate --from sqlite:"+path+" --to sqlite:NEW") {
		t.Errorf("Open of the old layout: %v; want ErrOldLayout naming exportguard store migrate --from sqlite:%s --to sqlite:NEW", err, path)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("Open changed the old file it refused")
	}
}

// A Batch nested in a Batch is a savepoint of its transaction: when its
// function fails, its writes (and the audit chain's head it moved) are undone
// and the outer Batch's stay; when it succeeds, its writes commit with the
// outer one.
func TestNestedBatchIsAtomicOnItsOwn(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "nested.db"))
	errFail := errors.New("the change failed")
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(ctx context.Context, key string) error {
		if err := s.MarkProcessed(ctx, partSA, key, at); err != nil {
			return err
		}
		_, err := s.AppendAudit(ctx, guard.AuditRecord{Partition: partSA, At: at, Kind: "change", Subject: key})
		return err
	}
	err := s.Batch(ctx, func(ctx context.Context) error {
		if err := s.Batch(ctx, func(ctx context.Context) error { return write(ctx, "first") }); err != nil {
			return err
		}
		if err := s.Batch(ctx, func(ctx context.Context) error {
			if err := write(ctx, "failed"); err != nil {
				return err
			}
			return errFail
		}); !errors.Is(err, errFail) {
			t.Errorf("failing nested Batch: %v, want its error", err)
		}
		return s.Batch(ctx, func(ctx context.Context) error { return write(ctx, "third") })
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{"first": true, "failed": false, "third": true} {
		if ok, err := s.Processed(ctx, partSA, key); err != nil || ok != want {
			t.Errorf("Processed(%s) = %v, %v; want %v", key, ok, err, want)
		}
	}
	recs, err := s.ListAudit(ctx, partSA, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Subject != "first" || recs[1].Subject != "third" {
		t.Errorf("records %+v, want first and third", recs)
	}
	if err := guard.VerifyAudit(recs); err != nil {
		t.Errorf("the chain after a nested Batch was undone: %v", err)
	}
}

// Findings are kept in their partition: UpdateFinding refuses a finding of
// another partition, and one stored in another partition under the same ID.
func TestUpdateFindingChecksThePartition(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, Memory)
	other := guard.PartitionOf(resSA + "2")
	put := func(part, resource string) error {
		_, err := s.UpdateFinding(ctx, part, "f", func(*guard.Finding) (*guard.Finding, error) {
			return &guard.Finding{ID: "f", Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen, ResourceID: resource}, nil
		})
		return err
	}
	if err := put(other, resSA); err == nil {
		t.Error("a finding about sa stored in another partition: no error, want a refusal")
	}
	if err := put(partSA, resSA+"/blobServices/default"); err != nil {
		t.Errorf("a finding about a child of sa in sa's partition: %v", err)
	}
	if err := put(other, resSA+"2"); err == nil {
		t.Error("finding f written in a second partition: no error, want a refusal")
	}
	if f, err := s.GetFinding(ctx, "f"); err != nil || f.ResourceID != resSA+"/blobServices/default" {
		t.Errorf("GetFinding: %+v, %v", f, err)
	}
}

// A Batch takes the write lock at its first write, not before: a delivery
// that reads (the ledger, then ARM) keeps no other writer waiting meanwhile.
func TestBatchReadsBeforeItsFirstWriteHoldNoLock(t *testing.T) {
	s, err := open(t.Context(), filepath.Join(t.TempDir(), "lazy.db"), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	err = s.Batch(t.Context(), func(ctx context.Context) error {
		if _, err := s.Processed(ctx, partSA, "k"); err != nil {
			return err
		}
		if err := s.MarkProcessed(t.Context(), partSA, "outside", time.Now()); err != nil {
			t.Errorf("a write outside a Batch that has only read: %v, want it to go through", err)
		}
		return s.MarkProcessed(ctx, partSA, "k", time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k", "outside"} {
		if ok, err := s.Processed(t.Context(), partSA, k); err != nil || !ok {
			t.Errorf("Processed(%s) = %v, %v; want true", k, ok, err)
		}
	}
}
