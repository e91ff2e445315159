package cosmos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// TestPruneSeen: keys older than the TTL before the newest go, then all but
// the newest max; the clock plays no part.
func TestPruneSeen(t *testing.T) {
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // long ago: kept unless the newest key is newer by a TTL
	at := func(h int) time.Time { return old.Add(time.Duration(h) * time.Hour) }
	for _, tc := range []struct {
		name string
		seen map[string]time.Time
		ttl  time.Duration
		max  int
		want []string
	}{
		{"nothing to prune", map[string]time.Time{"a": at(0), "b": at(1)}, 24 * time.Hour, 10, []string{"a", "b"}},
		{"older than the TTL before the newest", map[string]time.Time{"a": at(0), "b": at(30), "c": at(40)}, 24 * time.Hour, 10, []string{"b", "c"}},
		{"exactly the TTL before the newest is kept", map[string]time.Time{"a": at(0), "b": at(24)}, 24 * time.Hour, 10, []string{"a", "b"}},
		{"no TTL", map[string]time.Time{"a": at(0), "b": at(1000)}, 0, 10, []string{"a", "b"}},
		{"the newest max", map[string]time.Time{"a": at(0), "b": at(3), "c": at(1), "d": at(2)}, 0, 2, []string{"b", "d"}},
		{"ties at the cap by key", map[string]time.Time{"a": at(0), "b": at(0), "c": at(0)}, 0, 2, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pruneSeen(tc.seen, tc.ttl, tc.max)
			if got := slices.Sorted(maps.Keys(tc.seen)); !slices.Equal(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPartitionKeyOfLongPartition: a partition longer than 1,000 bytes is kept
// under "~" and its SHA-256, and works like any other.
func TestPartitionKeyOfLongPartition(t *testing.T) {
	long := "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/" + strings.Repeat("x", 1000)
	if pk := pkOfPartition(long); len(pk) != 65 || pk[0] != '~' {
		t.Fatalf("pkOfPartition of %d bytes: %q, want ~ and 64 hex digits", len(long), pk)
	}
	if pk := pkOfPartition(testPartition); pk != testPartition {
		t.Errorf("pkOfPartition(%q) = %q, want it unchanged", testPartition, pk)
	}
	s := openTest(t)
	if err := s.MarkProcessed(t.Context(), long, "k", time.Now()); err != nil {
		t.Fatal(err)
	}
	rec, err := s.AppendAudit(t.Context(), guard.AuditRecord{Partition: long, At: time.Now(), Kind: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Processed(t.Context(), long, "k"); !ok || err != nil {
		t.Errorf("Processed: %v, %v, want true", ok, err)
	}
	if recs, err := s.ListAudit(t.Context(), long, 0, 10); err != nil || len(recs) != 1 || recs[0].Hash != rec.Hash {
		t.Errorf("ListAudit: %v, %v, want the record appended", recs, err)
	}
	heads, err := s.AuditHeads(t.Context(), time.Time{})
	if err != nil || len(heads) != 1 || heads[0].Partition != long {
		t.Errorf("AuditHeads: %v, %v, want the long partition's head, named in full", heads, err)
	}
}

// TestBatchOverOperationLimit: a unit whose writes to one partition need more
// than 100 operations of a transactional batch is refused, not split: nothing
// of it is stored. At the limit it commits.
func TestBatchOverOperationLimit(t *testing.T) {
	s := openTest(t)
	appendN := func(n int) error {
		return s.Batch(t.Context(), func(ctx context.Context) error {
			for i := range n {
				if _, err := s.AppendAudit(ctx, guard.AuditRecord{Partition: testPartition, At: time.Now(), Kind: "test", Subject: fmt.Sprint(i)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := appendN(maxBatchOps); !errors.Is(err, errTooManyOps) {
		t.Errorf("a Batch of %d records and the head: got %v, want a refusal", maxBatchOps, err)
	}
	if recs, err := s.ListAudit(t.Context(), testPartition, 0, 1000); err != nil || len(recs) != 0 {
		t.Errorf("after the refusal: %d records (%v), want none", len(recs), err)
	}
	if err := appendN(maxBatchOps - 1); err != nil {
		t.Errorf("a Batch of %d records and the head: %v", maxBatchOps-1, err)
	}
	if recs, err := s.ListAudit(t.Context(), testPartition, 0, 1000); err != nil || len(recs) != maxBatchOps-1 {
		t.Errorf("after the Batch at the limit: %d records (%v), want %d", len(recs), err, maxBatchOps-1)
	}
}
