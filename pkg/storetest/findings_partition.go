package storetest

import (
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// testFindingPartitions checks that findings are kept in the partition of the
// resource they name: UpdateFinding names it and refuses a finding of another,
// while GetFinding and ListFindings find findings wherever they are.
func testFindingPartitions(t *testing.T, open Opener) {
	t.Run("UpdateFinding stores findings of its partition and refuses others", func(t *testing.T) {
		const id = "f-1"
		for _, tc := range []struct {
			name       string
			findingID  string // the ID of the finding fn returns
			resourceID string // its ResourceID
			wantID     string // the ID stored, "" when refused
		}{
			{"the resource itself", id, sa1, id},
			{"the resource in another casing", id, sa1Lower, id},
			{"a child settings resource of it", id, sa1Blob, id},
			{"an empty ID gets the one asked for", "", sa1, id},
			{"another resource", id, beta, ""},
			{"a child of another resource", id, beta + "/blobServices/default", ""},
			{"another resource whose name starts with the same", id, sa1 + "x", ""},
			{"another ID", "f-2", sa1, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := open(t)
				want := finding(tc.findingID, tc.resourceID, guard.RuleResidencyLocation, guard.StatusOpen)
				got, err := s.UpdateFinding(t.Context(), pSA1, id, func(*guard.Finding) (*guard.Finding, error) {
					n := want
					return &n, nil
				})
				if tc.wantID == "" {
					if err == nil {
						t.Errorf("UpdateFinding(%q, %q) of a finding with ID %q about %s: stored %+v, want an error", pSA1, id, tc.findingID, tc.resourceID, got)
					}
					for _, id := range []string{id, tc.findingID} {
						_, err := s.GetFinding(t.Context(), id)
						wantNotFound(t, "GetFinding "+id+" after a refused UpdateFinding", err)
					}
					diff(t, "ListFindings after a refused UpdateFinding", []string(nil), ids(listFindings(t, s, guard.FindingFilter{})))
					return
				}
				mustNil(t, "UpdateFinding", err)
				want.ID = tc.wantID
				diff(t, "UpdateFinding result", &want, got)
				diff(t, "GetFinding", &want, getFinding(t, s, tc.wantID))
			})
		}
	})

	t.Run("UpdateFinding refuses to move a finding to another partition", func(t *testing.T) {
		s := open(t)
		stored := finding("f-1", sa1, guard.RuleResidencyLocation, guard.StatusOpen)
		putFinding(t, s, stored)
		got, err := s.UpdateFinding(t.Context(), pSA1, stored.ID, func(cur *guard.Finding) (*guard.Finding, error) {
			n := *cur
			n.ResourceID, n.Status = beta, guard.StatusResolved
			return &n, nil
		})
		if err == nil {
			t.Errorf("UpdateFinding that moves a finding from %s to %s: stored %+v, want an error", sa1, beta, got)
		}
		diff(t, "GetFinding after the refused move", &stored, getFinding(t, s, stored.ID))
		diff(t, "ListFindings of the other resource", []string(nil), ids(listFindings(t, s, guard.FindingFilter{ResourceID: beta})))
	})

	t.Run("GetFinding and ListFindings find findings whatever their partition", func(t *testing.T) {
		s := open(t)
		all := []guard.Finding{
			finding("f-sa1", sa1, guard.RuleResidencyLocation, guard.StatusOpen),
			finding("f-sa1-blob", sa1Blob, guard.RuleEncryptionCMK, guard.StatusOpen),
			finding("f-alpha", alpha, guard.RuleTransitTLS, guard.StatusResolved),
			finding("f-beta", beta, guard.RuleResidencyLocation, guard.StatusOpen),
			finding("f-gamma", gamma, guard.RuleEncryptionCMK, guard.StatusExempt),
		}
		for _, f := range all {
			putFinding(t, s, f)
		}
		for _, f := range all {
			diff(t, "GetFinding "+f.ID, &f, getFinding(t, s, f.ID))
		}
		// A resource's findings are its own, not its partition's: the child's
		// finding is not sa1's.
		diff(t, "ListFindings of sa1", []string{"f-sa1"}, ids(listFindings(t, s, guard.FindingFilter{ResourceID: sa1Lower})))
		diff(t, "ListFindings of sa1's blob service", []string{"f-sa1-blob"}, ids(listFindings(t, s, guard.FindingFilter{ResourceID: sa1Blob})))
		diff(t, "ListFindings open", []string{"f-beta", "f-sa1", "f-sa1-blob"}, ids(listFindings(t, s, guard.FindingFilter{Status: guard.StatusOpen})))
	})
}
