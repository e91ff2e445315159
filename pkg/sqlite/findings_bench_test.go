package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// A repeated verdict moves a finding's lastSeen and nothing it is indexed by:
// what most of the pipeline's finding writes are.
//
//	go test -run '^$' -bench UpdateFinding -benchmem ./pkg/sqlite
func BenchmarkUpdateFindingRepeatedVerdict(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir()+"/x.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 2000
	ids, parts := make([]string, n), make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("f-%d", i)
		res := fmt.Sprintf("/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a%d", i)
		parts[i] = guard.PartitionOf(res)
		_, err := s.UpdateFinding(ctx, parts[i], ids[i], func(*guard.Finding) (*guard.Finding, error) {
			return &guard.Finding{ID: ids[i], Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen, ResourceID: res,
				Evidence: map[string]any{"keySource": "Microsoft.Storage", "x": "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}, Message: "Storage account uses Microsoft-managed keys, not a customer-managed key."}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	err = s.Batch(ctx, func(ctx context.Context) error {
		for b.Loop() {
			i++
			_, err := s.UpdateFinding(ctx, parts[i%n], ids[i%n], func(cur *guard.Finding) (*guard.Finding, error) {
				n := *cur
				n.LastSeen = time.Unix(int64(i), 0)
				return &n, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
