package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// scaleFindings is how many findings a baseline scan of a large estate opens:
// the report must stay small and quick to open at this size (issue 18).
const scaleFindings = 10_000

// scaleNow is the clock of the report of scaleStore.
var scaleNow = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// scaleSub is the i-th of scaleStore's four subscriptions.
func scaleSub(i int) string { return fmt.Sprintf("%08x-4b8f-4c3a-9e2d-1f6a8b3c5d7%d", 0x7d5c2a1e+i, i) }

// scaleNames are the display names a scan kept for scaleStore's subscriptions:
// the last has none, and is shown by its ID.
var scaleNames = map[string]string{scaleSub(0): "ITAR Engineering", scaleSub(1): "Partner Exchange", scaleSub(2): "Production (EU)"}

// scaleCounts are what scaleStore holds, by status.
type scaleCounts struct{ Open, Exempt, Resolved int }

// scaleStore writes, deterministically, a SQLite store of n findings across
// four subscriptions (three of them named, scaleNames) and forty resource groups, every rule, five regions
// (two outside the United States), opened over sixty days by a few dozen
// callers, a tenth of them resolved and some exempt, with the audit trail's
// transitions and remediation records a pipeline writes; it returns the
// store's URL and the counts.
func scaleStore(t *testing.T, n int) (string, scaleCounts) {
	t.Helper()
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "scale.db")
	st, err := testApp().openStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	regions := []string{"eastus", "westus2", "centralus", "northeurope", "westeurope"}
	severities := map[string]string{guard.RuleResidencyLocation: "high", guard.RuleResidencyReplication: "high", guard.RuleEncryptionCMK: "medium",
		guard.RuleTransitTLS: "medium", guard.RuleJITOverstay: "critical", guard.RuleJITWindow: "low", guard.RuleUnscreenedPrincipal: "high",
		guard.RuleMonitoringActivityLog: "low"}
	var c scaleCounts
	err = st.Batch(ctx, func(ctx context.Context) error {
		for i := range n {
			sub := scaleSub(i / 8 % 4)
			rg := fmt.Sprintf("rg-eng-%02d", i/3%40)
			id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/steng%05d", sub, rg, i)
			rule := guard.RuleIDs[i%len(guard.RuleIDs)]
			opened := scaleNow.Add(-time.Duration(i%60)*24*time.Hour - time.Duration(i%1440)*time.Minute)
			caller := fmt.Sprintf("engineer%02d@contoso.com", i%37)
			f := guard.Finding{ID: guard.FindingID(rule, id, ""), Rule: rule, Severity: severities[rule], Status: guard.StatusOpen,
				SubscriptionID: sub, ResourceID: id, Message: fmt.Sprintf("Storage account steng%05d breaks %s.", i, rule),
				FirstSeen: opened, LastSeen: opened, Trigger: guard.Trigger{Source: guard.SourceEventHub, EventID: fmt.Sprint("e", i), Caller: caller}}
			switch {
			case i%10 == 9:
				f.Status = guard.StatusResolved
				at := opened.Add(time.Duration(1+i%5) * 24 * time.Hour)
				if at.After(scaleNow) {
					at = scaleNow
				}
				f.ResolvedAt = &at
				c.Resolved++
			case i%50 == 25:
				f.Status = guard.StatusExempt
				c.Exempt++
			default:
				c.Open++
			}
			if i%7 == 0 && f.Status == guard.StatusOpen {
				f.Remediation = guard.Remediation{Action: "storage.set-cmk", Mode: "approve", Status: "awaiting-approval"}
			}
			part := guard.PartitionOf(id)
			if _, err := st.UpdateFinding(ctx, part, f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
				return err
			}
			if err := st.PutResource(ctx, &guard.Resource{ID: id, Type: "Microsoft.Storage/storageAccounts", Location: regions[i%len(regions)], ObservedAt: opened}); err != nil {
				return err
			}
			record := func(at time.Time, to guard.Status) error {
				data, _ := json.Marshal(guard.ChangeRecord{Caller: caller, EventID: f.Trigger.EventID, EventTime: at.Add(-time.Minute), Source: guard.SourceEventHub,
					Transitions: []guard.AuditTransition{{FindingID: f.ID, Rule: rule, ResourceID: id, To: to, Trigger: f.Trigger}}, Verdicts: []guard.AuditVerdict{}})
				_, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: part, At: at, Kind: guard.AuditChange, Subject: id, Data: data})
				return err
			}
			if err := record(opened, guard.StatusOpen); err != nil {
				return err
			}
			if f.ResolvedAt != nil {
				if err := record(*f.ResolvedAt, guard.StatusResolved); err != nil {
					return err
				}
			}
			if f.Remediation.Status != "" {
				data, _ := json.Marshal(map[string]any{"findingId": f.ID, "mode": "approve"})
				if _, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: part, At: opened.Add(time.Minute), Kind: "remediation.planned", Subject: f.ID, Data: data}); err != nil {
					return err
				}
			}
		}
		for sub, name := range scaleNames {
			if err := st.PutResource(ctx, guard.NewSubscriptionName(sub, name, scaleNow)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("write %d findings: %v", n, err)
	}
	return url, c
}
