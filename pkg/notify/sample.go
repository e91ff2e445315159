package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Sample is the message "exportguard notify test" sends: a made-up violation
// in the policy's cloud, marked as a test, that changes nothing and asks
// nothing of anyone.
func (p *Planner) Sample(at time.Time) Message {
	at = at.UTC().Truncate(time.Second)
	loc, pair := "eastus", "westeurope"
	if p.cloud == "AzureUSGovernment" {
		loc, pair = "usgovvirginia", "usgovtexas"
	}
	id := "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-exportguard-test/providers/Microsoft.Storage/storageAccounts/exportguardtest"
	f := guard.Finding{
		ID: guard.FindingID(guard.RuleResidencyReplication, id, "notify-test"), Rule: guard.RuleResidencyReplication,
		Severity: "high", Status: guard.StatusOpen, SubscriptionID: guard.SubscriptionOf(id), ResourceID: id,
		Message:   "This is a test message from exportguard notify test; no resource was judged or changed.",
		Evidence:  map[string]any{"primaryLocation": loc, "secondaryLocation": pair, "sample": true},
		FirstSeen: at, LastSeen: at,
		Trigger:     guard.Trigger{Source: guard.SourceTimer, EventID: "notify-test"},
		Remediation: guard.Remediation{Mode: guard.RemediationOff, Status: "none"},
	}
	m := p.Message(f, "", EventOpened, at, "")
	m.Test = true
	m.Who = "exportguard notify test"
	m.NextStep = "Nothing to do: this is a test. If you can read it, exportguard reaches this channel."
	return m
}

// SampleID is the ID a sample message is sent with: new for every test run.
func SampleID(at time.Time, kind string) string {
	sum := sha256.Sum256([]byte("notify-test\x00" + at.UTC().Format(time.RFC3339Nano) + "\x00" + kind))
	return hex.EncodeToString(sum[:16])
}
