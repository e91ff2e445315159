package cosmos

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// openPair opens two stores, each with its own client (as two handler
// instances have), on one database.
func openPair(t *testing.T) (*Store, *Store) {
	t.Helper()
	o := testOptions(t, newDatabaseName())
	a := openWith(t, o)
	o.EnsureContainers = false // the first made them; the second only checks
	return a, openWith(t, o)
}

// TestUpdateFindingTwoStores: goroutines of two stores (two clients) increment
// one finding's counter; no increment is lost and none is applied twice.
func TestUpdateFindingTwoStores(t *testing.T) {
	const goroutines, updates = 4, 20 // per store
	a, b := openPair(t)
	const id = "f-shared"
	_, err := a.UpdateFinding(t.Context(), testPartition, id, func(*guard.Finding) (*guard.Finding, error) {
		return &guard.Finding{ID: id, Rule: guard.RuleResidencyLocation, Status: guard.StatusOpen,
			ResourceID: testResource, Evidence: map[string]any{"count": 0}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var counts []int
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		for g := range goroutines {
			wg.Go(func() {
				for u := range updates {
					f, err := s.UpdateFinding(t.Context(), testPartition, id, increment)
					if err != nil {
						t.Errorf("store %d, goroutine %d, update %d: %v", i, g, u, err)
						return
					}
					mu.Lock()
					counts = append(counts, int(f.Evidence["count"].(float64)))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	total := 2 * goroutines * updates
	for i, s := range []*Store{a, b} {
		f, err := s.GetFinding(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Evidence["count"]; got != float64(total) {
			t.Errorf("count read by store %d: got %v, want %d", i, got, total)
		}
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("counts returned by UpdateFinding, sorted: [%d] is %d, want %d (each of 1..%d once)", i, c, i+1, total)
		}
	}
}

func increment(cur *guard.Finding) (*guard.Finding, error) {
	if cur == nil {
		return nil, errors.New("no finding to increment")
	}
	n, ok := cur.Evidence["count"].(float64)
	if !ok {
		return nil, fmt.Errorf("count is %T, want float64", cur.Evidence["count"])
	}
	next := *cur
	next.Evidence = map[string]any{"count": n + 1}
	return &next, nil
}

// TestAppendAuditConcurrent: goroutines of two stores append to one
// partition's chain at once. Seqs are unique, without gaps, increasing for
// each appender, ListAudit pages through all of them in order, and they form
// one chain.
func TestAppendAuditConcurrent(t *testing.T) {
	const goroutines, appends = 4, 12 // per store
	a, b := openPair(t)

	var mu sync.Mutex
	bySeq := map[int64]string{}
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		for g := range goroutines {
			wg.Go(func() {
				last := int64(0)
				for n := range appends {
					subject := fmt.Sprintf("s%d-g%d-%d", i, g, n)
					rec, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: testPartition, At: time.Now(), Kind: "test",
						Subject: subject, Data: []byte(fmt.Sprintf(`{"n": %d}`, n))})
					if err != nil {
						t.Errorf("%s: %v", subject, err)
						return
					}
					if rec.Seq <= last {
						t.Errorf("%s: Seq %d after %d from the same appender", subject, rec.Seq, last)
					}
					last = rec.Seq
					mu.Lock()
					if other, ok := bySeq[rec.Seq]; ok {
						t.Errorf("Seq %d given to %s and %s", rec.Seq, other, subject)
					}
					bySeq[rec.Seq] = subject
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()

	total := 2 * goroutines * appends
	for seq := int64(1); seq <= int64(total); seq++ {
		if _, ok := bySeq[seq]; !ok {
			t.Errorf("no record got Seq %d (Seqs must have no gaps)", seq)
		}
	}
	for i, s := range []*Store{a, b} {
		var got []guard.AuditRecord
		after := int64(0)
		for range total {
			page, err := s.ListAudit(t.Context(), testPartition, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Seq
		}
		if len(got) != total {
			t.Errorf("store %d: ListAudit paged through %d records, want %d", i, len(got), total)
		}
		for j, rec := range got {
			if rec.Seq != int64(j+1) || rec.Subject != bySeq[rec.Seq] {
				t.Errorf("store %d: record %d is Seq %d %s, want Seq %d %s", i, j, rec.Seq, rec.Subject, j+1, bySeq[int64(j+1)])
			}
		}
		if err := guard.VerifyAudit(got); err != nil {
			t.Errorf("store %d: the records appended by two stores do not form one chain: %v", i, err)
		}
	}
}

// testResource is a resource the package's own tests use, and testPartition
// its partition.
const testResource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"

var testPartition = guard.PartitionOf(testResource)
