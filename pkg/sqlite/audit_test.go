package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/storetest"
)

// TestAuditTamper: records edited or deleted with SQL, behind the store's
// back, are named by VerifyAudit.
func TestAuditTamper(t *testing.T) {
	storetest.RunTamper(t, func(t *testing.T) guard.Store { return openTest(t, Memory) }, storetest.Tamper{
		Alter: func(t *testing.T, s guard.Store, partition string, seq int64) {
			tamper(t, s, `UPDATE audit SET doc = json_set(doc, '$.subject', 'someone else') WHERE partition = ? AND seq = ?`, partition, seq)
		},
		Remove: func(t *testing.T, s guard.Store, partition string, seq int64) {
			tamper(t, s, `DELETE FROM audit WHERE partition = ? AND seq = ?`, partition, seq)
		},
	})
}

// tamper runs a statement that must change exactly one row, through the
// store's own database handle.
func tamper(t *testing.T, s guard.Store, stmt, partition string, seq int64) {
	t.Helper()
	res, err := s.(*Store).db.ExecContext(t.Context(), stmt, partition, seq)
	if err != nil {
		t.Fatalf("tamper with record %d of %s: %v", seq, partition, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper with record %d of %s: %d rows changed (%v), want 1", seq, partition, n, err)
	}
}

const partA = "/subscriptions/s/resourcegroups/g/providers/microsoft.storage/storageaccounts/a"

// TestAuditRemovedFromTheEnd: records deleted from the end of a chain are
// invisible to the chain alone, until the next append: its Seq is past every
// Seq used (the chain's head is kept apart), so the gap shows; and AuditHeads
// still names the head the store appended.
func TestAuditRemovedFromTheEnd(t *testing.T) {
	s := openTest(t, Memory)
	for i := range 5 {
		if _, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: partA, At: time.Now(), Kind: "test", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(t.Context(), "DELETE FROM audit WHERE seq >= 4"); err != nil {
		t.Fatal(err)
	}
	heads, err := s.AuditHeads(t.Context(), time.Time{})
	if err != nil || len(heads) != 1 || heads[0].Seq != 5 {
		t.Fatalf("AuditHeads after records 4 and 5 were deleted: %+v, %v; want the head appended, 5", heads, err)
	}
	rec, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: partA, At: time.Now(), Kind: "test", Subject: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 6 {
		t.Errorf("Seq after records 4 and 5 were deleted: got %d, want 6", rec.Seq)
	}
	recs, err := s.ListAudit(t.Context(), partA, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ae *guard.AuditError
	if err := guard.VerifyAudit(recs); !errors.As(err, &ae) || ae.Seq != 4 || ae.Problem != guard.AuditRemoved {
		t.Errorf("VerifyAudit: got %v, want records 4 to 5 removed", err)
	}
}

// TestAuditTwoStoresOnOneFile is two processes appending to one file at once,
// to two partitions: the write transaction keeps one chain per partition with
// gap-free Seqs between them too.
func TestAuditTwoStoresOnOneFile(t *testing.T) {
	const goroutines, appends = 3, 10 // per store and partition
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	parts := []string{partA, partA + "2"}
	var wg sync.WaitGroup
	for i, s := range stores {
		for g := range goroutines {
			for _, part := range parts {
				wg.Go(func() {
					for n := range appends {
						subject := fmt.Sprintf("s%d-g%d-%d", i, g, n)
						if _, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: part, At: time.Now(), Kind: "test", Subject: subject}); err != nil {
							t.Errorf("%s: %v", subject, err)
							return
						}
					}
				})
			}
		}
	}
	wg.Wait()
	for i, s := range stores {
		for _, part := range parts {
			recs, err := s.ListAudit(t.Context(), part, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 2*goroutines*appends {
				t.Errorf("store %d, %s: %d records, want %d", i, part, len(recs), 2*goroutines*appends)
			}
			if err := guard.VerifyAudit(recs); err != nil {
				t.Errorf("store %d, %s: the records appended by two stores do not form one chain: %v", i, part, err)
			}
		}
	}
}
