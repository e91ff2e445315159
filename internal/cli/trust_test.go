package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// Issue 14, the cases of DESIGN 3.6 besides the two fault tests
// (faults_trust_test.go), each through the entry point a user or an attacker
// uses: the handler's HTTP surface, or replay.

// A state an event carried is never the ground of a remediation: a Resource
// Notifications payload naming another Key Vault does not become the key
// storage.restore-cmk writes onto the account (case 3).
func TestTrustRemediationRestsOnARMState(t *testing.T) {
	t.Parallel()
	pol, err := policyfile.Parse([]byte("scope: {subscriptions: [" + trustSub + "]}\n" +
		"rules:\n  encryption.cmk: {mode: remediate}\nremediation: {mode: approve}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		armBefore bool   // ARM was read with the account's real key before the payload
		want      string // the plan's action
		wantVault string // the vault it restores
	}{
		{"the key ARM showed is restored, not the payload's", true, "storage.restore-cmk", goodVault},
		{"no state read from ARM before: nothing to restore", false, "none", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := startTrustHandler(t, pol)
			id := trustAccount("cmkvictim")
			write := func(at time.Time, eventID string) {
				th.send(at, "resourceevents", resourceEvent(armEvent(id, "Microsoft.Resources.ResourceWriteSuccess",
					"Microsoft.Storage/storageAccounts/write", eventID, at)))
			}
			if tt.armBefore {
				th.observe(trustAt(0), storageBody(id, false, goodVault))
				write(trustAt(1), "w-1")
			}
			// The payload names the attacker's vault (compliant: a Key Vault key).
			th.send(trustAt(10), "resourceevents", resourceEvent(notificationEvent("CreatedOrUpdated", "rn-evil", trustAt(10), storageBody(id, false, evilVault))))
			// Then the key is switched off, as ARM shows.
			th.observe(trustAt(20), storageBody(id, false, ""))
			write(trustAt(21), "w-off")

			f := th.findingsOf(id)[guard.RuleEncryptionCMK]
			if f.Status != guard.StatusOpen {
				t.Fatalf("encryption.cmk = %s, want open", f.Status)
			}
			var actions []string
			recs, err := trailEvents(th.store)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if !strings.HasPrefix(r.Kind, "remediation.") {
					continue
				}
				var d struct {
					Action struct {
						Type string `json:"type"`
					} `json:"action"`
				}
				json.Unmarshal(r.Data, &d)
				actions = append(actions, d.Action.Type)
				if strings.Contains(string(r.Data), evilVault) {
					t.Errorf("audit %s plans with the vault only an event named: %s", r.Kind, r.Data)
				}
			}
			if len(actions) != 1 || actions[0] != tt.want {
				t.Errorf("remediation actions = %v, want [%s]", actions, tt.want)
			}
			items, err := th.store.ListOutbox(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			planned := ""
			for _, it := range items {
				if it.Kind != "remediate" {
					continue
				}
				if strings.Contains(string(it.Payload), evilVault) {
					t.Errorf("plan %s writes the vault only an event named: %s", it.ID, it.Payload)
				}
				planned += string(it.Payload)
			}
			if tt.wantVault != "" && !strings.Contains(planned, tt.wantVault) {
				t.Errorf("no plan restores %s; plans: %s", tt.wantVault, planned)
			}
		})
	}
}

// Two resources in one Event Grid delivery that share an event ID are two
// changes; the same delivery again is a duplicate, and so is an event a
// version before this one marked processed under the event alone (case 4).
func TestTrustSharedEventIDNamesTwoResources(t *testing.T) {
	t.Parallel()
	th := startTrustHandler(t, nil)
	a, b, c := trustAccount("sharedida"), trustAccount("sharedidb"), trustAccount("sharedidc")
	delivery, _ := json.Marshal([]map[string]any{
		notificationEvent("CreatedOrUpdated", "one-id", trustAt(1), storageBody(a, true, goodVault)),
		notificationEvent("CreatedOrUpdated", "one-id", trustAt(1), storageBody(b, true, goodVault)),
	})
	th.send(trustAt(2), "eventgrid", webhookDelivery(string(delivery)))
	for _, id := range []string{a, b} {
		if f, ok := th.findingsOf(id)[guard.RuleResidencyReplication]; !ok || f.Status != guard.StatusOpen {
			t.Errorf("residency.replication on %s = %+v, want open", id, f)
		}
	}
	opens := func() int {
		recs, err := trailEvents(th.store)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Kind == "finding.open" {
				n++
			}
		}
		return n
	}
	before := opens()
	th.send(trustAt(3), "eventgrid", webhookDelivery(string(delivery)))
	if got := opens(); got != before {
		t.Errorf("the same delivery again opened %d more findings, want none", got-before)
	}

	// A ledger written before the key named the resource.
	if err := th.store.MarkProcessed(context.Background(), guard.PartitionOf(c), "event:eventgrid:old-id", trustAt(0)); err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal([]map[string]any{notificationEvent("CreatedOrUpdated", "old-id", trustAt(4), storageBody(c, true, goodVault))})
	th.send(trustAt(5), "eventgrid", webhookDelivery(string(old)))
	if fs := th.findingsOf(c); len(fs) != 0 {
		t.Errorf("an event the ledger already held was judged again: %v", fs)
	}
}

// A state older than one ARM answered is not judged, and that is said at warn
// level with the resource; one newer than an event's payload is (case 2).
func TestTrustOlderStateIsIgnoredOnlyForARM(t *testing.T) {
	t.Parallel()
	th := startTrustHandler(t, nil)
	id := trustAccount("olderstate")
	th.opened(id, trustAt(10)) // ARM state observed at 09:09
	// A payload from before what ARM showed: ignored, and said so.
	th.send(trustAt(12), "resourceevents", resourceEvent(notificationEvent("CreatedOrUpdated", "rn-old", trustAt(5), storageBody(id, false, goodVault))))
	logs := th.logs.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"state older than the last known state read from ARM; not judged"`) || !strings.Contains(logs, id) {
		t.Errorf("no warning naming %s for a state older than ARM's:\n%s", id, logs)
	}
	if f := th.findingsOf(id)[guard.RuleResidencyReplication]; f.Status != guard.StatusOpen {
		t.Errorf("residency.replication = %s, want open", f.Status)
	}
}

// Replaying a session into a store that holds other resources' findings
// closes none of them: a resource with no arm line in the session is
// unknown, not deleted, to the events and to the reconcile; only a deleted
// line makes it gone (case 8, DESIGN 3.2).
func TestTrustReplayIntoAStoreKeepsOtherFindings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "store.db")
	live := trustAccount("livefinding")
	other := trustAccount("othersession")
	line := func(v map[string]any) string { b, _ := json.Marshal(v); return string(b) }
	armLine := func(at time.Time, body []byte) string {
		return line(map[string]any{"source": "arm", "observedAt": at.Format(time.RFC3339), "body": json.RawMessage(body)})
	}
	egLine := func(at time.Time, ev map[string]any) string {
		return line(map[string]any{"source": "eventgrid", "time": at.Format(time.RFC3339), "body": []map[string]any{ev}})
	}
	clockLine := func(at time.Time) string {
		return line(map[string]any{"source": "clock", "at": at.Format(time.RFC3339)})
	}
	write := func(id, eventID string, at time.Time) map[string]any {
		return armEvent(id, "Microsoft.Resources.ResourceWriteSuccess", "Microsoft.Storage/storageAccounts/write", eventID, at)
	}
	session := func(name string, lines ...string) string {
		p := filepath.Join(dir, name+".ndjson")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	first := session("first", armLine(trustAt(0), storageBody(live, true, goodVault)), egLine(trustAt(1), write(live, "w-live", trustAt(1))))
	// The reconcile's tick (functions/reconcile/function.json: 03:00) after t.
	reconcileAfter := func(t time.Time) time.Time {
		d := time.Date(t.Year(), t.Month(), t.Day(), 3, 0, 0, 0, time.UTC)
		if !d.After(t) {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	// Another day's session: another account, an event about the first one
	// (but no arm line for it), sweeps every five minutes for an hour, and
	// the reconcile that night, which re-reads every open finding.
	later := []string{armLine(trustAt(60), storageBody(other, true, goodVault)), egLine(trustAt(61), write(other, "w-other", trustAt(61))),
		egLine(trustAt(62), write(live, "w-live-2", trustAt(62)))}
	for m := 65; m <= 120; m += 5 {
		later = append(later, clockLine(trustAt(m)))
	}
	later = append(later, clockLine(reconcileAfter(trustAt(120))))
	second := session("second", later...)
	gone := session("gone", line(map[string]any{"source": "arm", "observedAt": trustAt(130).Format(time.RFC3339), "deleted": true,
		"body": map[string]string{"id": live}}), clockLine(trustAt(131)), clockLine(reconcileAfter(trustAt(131))))

	status := func(out, id string) guard.Status {
		t.Helper()
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var f guard.Finding
			if json.Unmarshal([]byte(l), &f) == nil && guard.SameID(f.ResourceID, id) && f.Rule == guard.RuleResidencyReplication {
				return f.Status
			}
		}
		return ""
	}
	replayInto := func(path string) string {
		t.Helper()
		out, errOut, err := run(t, "replay", "--format", "json", "--store", "sqlite:"+db, path)
		if err != nil {
			t.Fatalf("replay %s: %v\n%s", filepath.Base(path), err, errOut)
		}
		return out
	}
	if out := replayInto(first); status(out, live) != guard.StatusOpen {
		t.Fatalf("after the first session: %s, want open\n%s", status(out, live), out)
	}
	out := replayInto(second)
	if got := status(out, live); got != guard.StatusOpen {
		t.Errorf("after a session that never saw %s: %s, want its finding left open", live, got)
	}
	if got := status(out, other); got != guard.StatusOpen {
		t.Errorf("the second session's own account: %s, want open", got)
	}
	st, err := sqlite.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	r, err := st.GetResource(context.Background(), live)
	st.Close()
	if err != nil || r.Deleted {
		t.Errorf("last known state of %s = %+v, %v; want unchanged, not deleted", live, r, err)
	}
	if out := replayInto(gone); status(out, live) != guard.StatusResolved {
		t.Errorf("after a deleted line: %s, want resolved", status(out, live))
	}
}
