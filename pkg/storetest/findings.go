package storetest

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

func testFindings(t *testing.T, open Opener) {
	t.Run("GetFinding of an absent ID is ErrNotFound", func(t *testing.T) {
		s := open(t)
		f, err := s.GetFinding(t.Context(), "no-such-finding")
		wantNotFound(t, "GetFinding", err)
		if f != nil {
			t.Errorf("GetFinding: got %+v, want nil", f)
		}
	})

	t.Run("UpdateFinding creates a finding, fn gets nil", func(t *testing.T) {
		s := open(t)
		want := finding("f-1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		var gotCur []*guard.Finding
		got, err := s.UpdateFinding(t.Context(), pSA1, want.ID, func(cur *guard.Finding) (*guard.Finding, error) {
			gotCur = append(gotCur, cur)
			n := want
			return &n, nil
		})
		mustNil(t, "UpdateFinding", err)
		if len(gotCur) == 0 {
			t.Fatal("UpdateFinding did not call fn")
		}
		for i, cur := range gotCur {
			if cur != nil {
				t.Errorf("call %d of fn: got cur %+v, want nil", i, cur)
			}
		}
		diff(t, "UpdateFinding result", &want, got)
		diff(t, "GetFinding", &want, getFinding(t, s, want.ID))
	})

	t.Run("UpdateFinding gives fn the current finding and stores what it returns", func(t *testing.T) {
		s := open(t)
		v1 := finding("f-1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		putFinding(t, s, v1)
		v2 := v1
		v2.Status, v2.Message, v2.LastSeen = guard.StatusResolved, "fixed", t0.Add(time.Hour)
		resolved := t0.Add(time.Hour)
		v2.ResolvedAt = &resolved
		got, err := s.UpdateFinding(t.Context(), pSA1, v1.ID, func(cur *guard.Finding) (*guard.Finding, error) {
			if cur == nil {
				return nil, errors.New("fn got nil, want the stored finding")
			}
			if cur.Message != v1.Message || cur.Status != v1.Status {
				return nil, fmt.Errorf("fn got message %q status %q, want %q %q", cur.Message, cur.Status, v1.Message, v1.Status)
			}
			n := v2
			return &n, nil
		})
		mustNil(t, "UpdateFinding", err)
		diff(t, "UpdateFinding result", &v2, got)
		diff(t, "GetFinding", &v2, getFinding(t, s, v1.ID))
	})

	t.Run("UpdateFinding writes nothing when fn returns nil", func(t *testing.T) {
		stored := finding("f-1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		for _, tc := range []struct {
			name   string
			exists bool
			mutate bool // fn changes cur before returning nil
		}{
			{name: "absent"},
			{name: "present", exists: true},
			{name: "present, cur changed but not returned", exists: true, mutate: true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				if tc.exists {
					putFinding(t, s, stored)
				}
				got, err := s.UpdateFinding(t.Context(), pSA1, stored.ID, func(cur *guard.Finding) (*guard.Finding, error) {
					if tc.mutate && cur != nil {
						cur.Status, cur.Message = guard.StatusExempt, "changed in fn"
						cur.Evidence["changed"] = true
					}
					return nil, nil
				})
				mustNil(t, "UpdateFinding", err)
				if !tc.exists {
					if got != nil {
						t.Errorf("UpdateFinding result: got %+v, want nil", got)
					}
					_, err := s.GetFinding(t.Context(), stored.ID)
					wantNotFound(t, "GetFinding after fn returned nil", err)
					if fs := listFindings(t, s, guard.FindingFilter{}); len(fs) != 0 {
						t.Errorf("ListFindings: got %d findings, want 0", len(fs))
					}
					return
				}
				if !tc.mutate {
					diff(t, "UpdateFinding result", &stored, got)
				}
				diff(t, "GetFinding", &stored, getFinding(t, s, stored.ID))
			})
		}
	})

	t.Run("UpdateFinding returns fn's error and writes nothing", func(t *testing.T) {
		stored := finding("f-1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		for _, exists := range []bool{false, true} {
			t.Run(fmt.Sprintf("exists=%v", exists), func(t *testing.T) {
				s := open(t)
				if exists {
					putFinding(t, s, stored)
				}
				boom := errors.New("boom")
				_, err := s.UpdateFinding(t.Context(), pSA1, stored.ID, func(cur *guard.Finding) (*guard.Finding, error) {
					n := finding(stored.ID, sa1, guard.RuleResidencyLocation, guard.StatusResolved)
					return &n, boom
				})
				if !errors.Is(err, boom) {
					t.Errorf("UpdateFinding: got error %v, want one wrapping fn's", err)
				}
				if !exists {
					_, err := s.GetFinding(t.Context(), stored.ID)
					wantNotFound(t, "GetFinding after fn failed", err)
					return
				}
				diff(t, "GetFinding after fn failed", &stored, getFinding(t, s, stored.ID))
			})
		}
	})

	t.Run("round trip preserves every field", func(t *testing.T) {
		resolvedAt := t0.Add(90 * time.Minute)
		full := guard.Finding{
			ID:             "f-full",
			Rule:           guard.RuleResidencyLocation,
			Severity:       "high",
			Status:         guard.StatusResolved,
			SubscriptionID: sub,
			ResourceID:     sa1,
			Message:        `Location "eastus" is outside <westeurope, northeurope> & ünïcødé`,
			Evidence: map[string]any{
				"location": "eastus",
				"allowed":  []string{"westeurope", "northeurope"},
				"count":    3,
				"ratio":    0.25,
				"flag":     true,
				"none":     nil,
				"nested": map[string]any{
					"sku":  map[string]any{"name": "Standard_GRS", "tier": 2},
					"list": []any{1, "two", false, map[string]any{"deep": -1.5}},
				},
			},
			FirstSeen:  t0,
			LastSeen:   t0.Add(time.Hour),
			ResolvedAt: &resolvedAt,
			Trigger: guard.Trigger{Source: guard.SourceEventGrid, EventID: "evt-1",
				CorrelationID: "corr-1", Caller: "alice@example.com"},
			Remediation: guard.Remediation{Action: "move-data", Mode: "dry-run", Status: "planned"},
		}
		// What JSON makes of the evidence: numbers are float64, lists []any.
		fullWant := full
		fullWant.Evidence = map[string]any{
			"location": "eastus",
			"allowed":  []any{"westeurope", "northeurope"},
			"count":    float64(3),
			"ratio":    0.25,
			"flag":     true,
			"none":     nil,
			"nested": map[string]any{
				"sku":  map[string]any{"name": "Standard_GRS", "tier": float64(2)},
				"list": []any{float64(1), "two", false, map[string]any{"deep": -1.5}},
			},
		}
		open1 := full
		open1.ID, open1.Status, open1.ResolvedAt = "f-open", guard.StatusOpen, nil
		open1Want := fullWant
		open1Want.ID, open1Want.Status, open1Want.ResolvedAt = "f-open", guard.StatusOpen, nil
		minimal := guard.Finding{ID: "f-minimal", Rule: guard.RuleTransitTLS, Status: guard.StatusOpen, ResourceID: alpha}

		for _, tc := range []struct {
			name     string
			in, want guard.Finding
		}{
			{"every field set, resolved", full, fullWant},
			{"open, ResolvedAt nil", open1, open1Want},
			{"minimal, zero times", minimal, minimal},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				got, err := s.UpdateFinding(t.Context(), guard.PartitionOf(tc.in.ResourceID), tc.in.ID, func(*guard.Finding) (*guard.Finding, error) {
					n := tc.in
					return &n, nil
				})
				mustNil(t, "UpdateFinding", err)
				diff(t, "UpdateFinding result", &tc.want, got)
				stored := getFinding(t, s, tc.in.ID)
				diff(t, "GetFinding", &tc.want, stored)
				if (stored.ResolvedAt == nil) != (tc.want.ResolvedAt == nil) {
					t.Errorf("GetFinding: got ResolvedAt %v, want %v", stored.ResolvedAt, tc.want.ResolvedAt)
				}
				times := []time.Time{stored.FirstSeen, stored.LastSeen}
				if stored.ResolvedAt != nil {
					times = append(times, *stored.ResolvedAt)
				}
				wantUTC(t, "GetFinding", times...)
				diff(t, "ListFindings", []guard.Finding{tc.want}, listFindings(t, s, guard.FindingFilter{}))

				// What fn gets on the next update is the same.
				var cur *guard.Finding
				_, err = s.UpdateFinding(t.Context(), guard.PartitionOf(tc.in.ResourceID), tc.in.ID, func(c *guard.Finding) (*guard.Finding, error) {
					cur = c
					return nil, nil
				})
				mustNil(t, "UpdateFinding", err)
				diff(t, "cur given to fn", &tc.want, cur)
			})
		}
	})

	t.Run("concurrent UpdateFinding loses no update", func(t *testing.T) {
		const goroutines, updates = 8, 25
		s := open(t)
		f := finding("f-counter", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		f.Evidence = map[string]any{"count": 0}
		putFinding(t, s, f)

		var mu sync.Mutex
		var returned []int
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range updates {
					got, err := s.UpdateFinding(t.Context(), pSA1, f.ID, increment)
					if err != nil {
						t.Errorf("goroutine %d, update %d: %v", g, i, err)
						return
					}
					n, _ := got.Evidence["count"].(float64)
					mu.Lock()
					returned = append(returned, int(n))
					mu.Unlock()
				}
			})
		}
		wg.Wait()

		final := getFinding(t, s, f.ID)
		if got, want := final.Evidence["count"], float64(goroutines*updates); got != want {
			t.Errorf("final count: got %v, want %v", got, want)
		}
		// Each update returned what it stored: every count from 1 to 200 once.
		sort.Ints(returned)
		want := make([]int, 0, goroutines*updates)
		for i := 1; i <= goroutines*updates; i++ {
			want = append(want, i)
		}
		diff(t, "counts returned by UpdateFinding", want, returned)
	})

	t.Run("ListFindings sorts and filters", func(t *testing.T) {
		s := open(t)
		// Stored out of order, resource IDs in mixed casing: sorted by resource
		// ID case-insensitively, "alpha" < "Beta" < "SA1" == "sa1".
		for _, f := range []guard.Finding{
			finding("A", sa1, guard.RuleResidencyLocation, guard.StatusOpen),
			finding("D", beta, guard.RuleResidencyLocation, guard.StatusExempt),
			finding("B", sa1Lower, guard.RuleEncryptionCMK, guard.StatusResolved),
			finding("C", alpha, guard.RuleTransitTLS, guard.StatusOpen),
			finding("E", beta, guard.RuleEncryptionCMK, guard.StatusOpen),
		} {
			putFinding(t, s, f)
		}
		for _, tc := range []struct {
			name   string
			filter guard.FindingFilter
			want   []string
		}{
			{"no filter", guard.FindingFilter{}, []string{"C", "E", "D", "B", "A"}},
			{"status open", guard.FindingFilter{Status: guard.StatusOpen}, []string{"C", "E", "A"}},
			{"status resolved", guard.FindingFilter{Status: guard.StatusResolved}, []string{"B"}},
			{"status exempt", guard.FindingFilter{Status: guard.StatusExempt}, []string{"D"}},
			{"rule", guard.FindingFilter{Rule: guard.RuleResidencyLocation}, []string{"D", "A"}},
			{"resource as stored", guard.FindingFilter{ResourceID: sa1}, []string{"B", "A"}},
			{"resource in lower case", guard.FindingFilter{ResourceID: sa1Lower}, []string{"B", "A"}},
			{"resource in other casing", guard.FindingFilter{ResourceID: rgPrefix + "beta"}, []string{"E", "D"}},
			{"resource and rule", guard.FindingFilter{ResourceID: sa1Lower, Rule: guard.RuleResidencyLocation}, []string{"A"}},
			{"resource, rule and status", guard.FindingFilter{ResourceID: beta, Rule: guard.RuleEncryptionCMK, Status: guard.StatusOpen}, []string{"E"}},
			{"no match", guard.FindingFilter{Status: guard.StatusResolved, Rule: guard.RuleTransitTLS}, nil},
			{"unknown resource", guard.FindingFilter{ResourceID: gamma}, nil},
			{"resource prefix is not a match", guard.FindingFilter{ResourceID: rgPrefix + "SA"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				diff(t, "ListFindings IDs", tc.want, ids(listFindings(t, s, tc.filter)))
			})
		}
	})

	t.Run("ListFindings follows updates", func(t *testing.T) {
		s := open(t)
		putFinding(t, s, finding("A", sa1, guard.RuleResidencyLocation, guard.StatusOpen))
		putFinding(t, s, finding("B", beta, guard.RuleResidencyLocation, guard.StatusOpen))
		_, err := s.UpdateFinding(t.Context(), pSA1, "A", func(cur *guard.Finding) (*guard.Finding, error) {
			n := *cur
			n.Status = guard.StatusResolved
			return &n, nil
		})
		mustNil(t, "UpdateFinding", err)
		diff(t, "open IDs", []string{"B"}, ids(listFindings(t, s, guard.FindingFilter{Status: guard.StatusOpen})))
		diff(t, "resolved IDs", []string{"A"}, ids(listFindings(t, s, guard.FindingFilter{Status: guard.StatusResolved})))
	})

	testFindingPartitions(t, open)
}

// increment adds one to the count in a finding's evidence.
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

// finding returns a finding with every field set, whose evidence survives JSON
// unchanged.
func finding(id, resourceID, rule string, status guard.Status) guard.Finding {
	return guard.Finding{
		ID: id, Rule: rule, Severity: "high", Status: status, SubscriptionID: sub, ResourceID: resourceID,
		Message:   "finding " + id,
		Evidence:  map[string]any{"id": id, "n": float64(1)},
		FirstSeen: t0, LastSeen: t0.Add(time.Minute),
		Trigger:     guard.Trigger{Source: guard.SourceTimer, EventID: "evt-" + id},
		Remediation: guard.Remediation{Action: "none", Mode: "off", Status: "none"},
	}
}

// putFinding stores f with UpdateFinding in its partition, whatever was there.
func putFinding(t *testing.T, s guard.Store, f guard.Finding) {
	t.Helper()
	_, err := s.UpdateFinding(t.Context(), guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) {
		n := f
		return &n, nil
	})
	mustNil(t, "UpdateFinding "+f.ID, err)
}

func getFinding(t *testing.T, s guard.Store, id string) *guard.Finding {
	t.Helper()
	f, err := s.GetFinding(t.Context(), id)
	mustNil(t, "GetFinding "+id, err)
	if f == nil {
		t.Fatalf("GetFinding %s: got nil, nil", id)
	}
	return f
}

func listFindings(t *testing.T, s guard.Store, f guard.FindingFilter) []guard.Finding {
	t.Helper()
	fs, err := s.ListFindings(t.Context(), f)
	mustNil(t, fmt.Sprintf("ListFindings %+v", f), err)
	return fs
}

func ids(fs []guard.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}
