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
		Alter: func(t *testing.T, s guard.Store, seq int64) {
			tamper(t, s, `UPDATE audit SET doc = json_set(doc, '$.subject', 'someone else') WHERE seq = ?`, seq)
		},
		Remove: func(t *testing.T, s guard.Store, seq int64) {
			tamper(t, s, `DELETE FROM audit WHERE seq = ?`, seq)
		},
	})
}

// tamper runs a statement that must change exactly one row, through the
// store's own database handle.
func tamper(t *testing.T, s guard.Store, stmt string, seq int64) {
	t.Helper()
	res, err := s.(*Store).db.ExecContext(t.Context(), stmt, seq)
	if err != nil {
		t.Fatalf("tamper with record %d: %v", seq, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		t.Fatalf("tamper with record %d: %d rows changed (%v), want 1", seq, n, err)
	}
}

// TestAuditRemovedFromTheEnd: records deleted from the end of the trail are
// invisible to the chain alone, until the next append: its Seq is past every
// Seq used, so the gap shows.
func TestAuditRemovedFromTheEnd(t *testing.T) {
	s := openTest(t, Memory)
	for i := range 5 {
		if _, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: time.Now(), Kind: "test", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.ExecContext(t.Context(), "DELETE FROM audit WHERE seq >= 4"); err != nil {
		t.Fatal(err)
	}
	rec, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: time.Now(), Kind: "test", Subject: "after"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Seq != 6 {
		t.Errorf("Seq after records 4 and 5 were deleted: got %d, want 6", rec.Seq)
	}
	recs, err := s.ListAudit(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ae *guard.AuditError
	if err := guard.VerifyAudit(recs); !errors.As(err, &ae) || ae.Seq != 4 || ae.Problem != guard.AuditRemoved {
		t.Errorf("VerifyAudit: got %v, want records 4 to 5 removed", err)
	}
}

// TestAuditTwoStoresOnOneFile is two processes appending to one file at once:
// the write transaction keeps one chain with gap-free Seqs between them too.
func TestAuditTwoStoresOnOneFile(t *testing.T) {
	const goroutines, appends = 3, 10 // per store
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []*Store{openTest(t, path), openTest(t, path)}
	var wg sync.WaitGroup
	for i, s := range stores {
		for g := range goroutines {
			wg.Go(func() {
				for n := range appends {
					subject := fmt.Sprintf("s%d-g%d-%d", i, g, n)
					if _, err := s.AppendAudit(t.Context(), guard.AuditRecord{At: time.Now(), Kind: "test", Subject: subject}); err != nil {
						t.Errorf("%s: %v", subject, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for i, s := range stores {
		recs, err := s.ListAudit(t.Context(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2*goroutines*appends {
			t.Errorf("store %d: %d records, want %d", i, len(recs), 2*goroutines*appends)
		}
		if err := guard.VerifyAudit(recs); err != nil {
			t.Errorf("store %d: the records appended by two stores do not form one chain: %v", i, err)
		}
	}
}
