package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify/notifytest"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// The trust faults (issue 14, DESIGN 3.6): an event says that something
// changed, ARM says what is. Each is sent to the custom handler as serve runs
// it, over a loopback connection, the way an attacker who can publish events
// would send it; ARM is the session ARM (pkg/replay) answering at the
// handler's clock.

const trustSub = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"

// trustT0 is when every trust scenario starts; no test reads the wall clock.
var trustT0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func trustAt(minutes int) time.Time { return trustT0.Add(time.Duration(minutes) * time.Minute) }

func trustAccount(name string) string {
	return "/subscriptions/" + trustSub + "/resourceGroups/rg-trust/providers/Microsoft.Storage/storageAccounts/" + name
}

// storageBody is the ARM GET body of a storage account in East US with a
// customer-managed key in vault (its URI). replicated puts its secondary in
// West Europe (RA-GRS), which the default policy (United States) refuses;
// otherwise it is LRS, and compliant with every rule.
func storageBody(id string, replicated bool, vault string) []byte {
	sku, props := "Standard_LRS", map[string]any{
		"primaryLocation": "eastus", "minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": true,
		"encryption": map[string]any{"keySource": "Microsoft.Keyvault", "keyvaultproperties": map[string]any{
			"keyname": "cad-key", "keyversion": "", "keyvaulturi": vault}},
	}
	if replicated {
		sku, props["secondaryLocation"] = "Standard_RAGRS", "westeurope"
	}
	if vault == "" {
		props["encryption"] = map[string]any{"keySource": "Microsoft.Storage"}
	}
	b, _ := json.Marshal(map[string]any{"id": id, "name": id[strings.LastIndex(id, "/")+1:], "type": "Microsoft.Storage/storageAccounts",
		"location": "eastus", "kind": "StorageV2", "sku": map[string]any{"name": sku, "tier": "Standard"},
		"identity": map[string]any{"type": "SystemAssigned"}, "properties": props})
	return b
}

const (
	goodVault = "https://kv-itar-eng.vault.azure.net"
	evilVault = "https://kv-attacker.vault.azure.net"
)

// trustHandler is the custom handler as serve runs it (newPipeline over a
// SQLite file, the findings API, functions.ListenAndServe) on a loopback port,
// with a clock and a session ARM the test moves.
type trustHandler struct {
	*faultHandler
	arm *replay.ARM
	mu  sync.Mutex
	now time.Time
}

func startTrustHandler(t *testing.T, pol *guard.Policy) *trustHandler {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "trust.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	th := &trustHandler{now: trustT0}
	th.arm = replay.NewARM(th.clock)
	logs := &notifytest.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if pol == nil {
		pol = policyfile.Default()
	}
	pl, err := testApp().newPipeline(st, th.arm, pol, log)
	if err != nil {
		t.Fatal(err)
	}
	bindRemediation(pl, th.arm)
	h := functions.NewHandler(functions.Options{Ingester: testApp().servedIngester(pl, st), Now: th.clock, Logger: log,
		Ready: func(ctx context.Context) error {
			_, err := st.Processed(ctx, "~readiness", "readiness-probe")
			return err
		}})
	url := serveOnLoopback(t, h, log)
	th.faultHandler = &faultHandler{t: t, url: url, store: st, logs: logs}
	return th
}

func (th *trustHandler) clock() time.Time {
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.now
}

func (th *trustHandler) setNow(at time.Time) {
	th.mu.Lock()
	th.now = at
	th.mu.Unlock()
}

// observe gives the session ARM the state of a resource from a moment on.
func (th *trustHandler) observe(at time.Time, body []byte) {
	var head struct{ ID string }
	json.Unmarshal(body, &head)
	th.arm.Observe(session.Line{Source: session.SourceARM, At: at, ID: head.ID, Body: body})
}

// gone makes ARM answer 404 for the resource from a moment on.
func (th *trustHandler) gone(at time.Time, id string) {
	th.arm.Observe(session.Line{Source: session.SourceARM, At: at, ID: id, Deleted: true, Body: []byte(`{"id":"` + id + `"}`)})
}

// send posts an invocation at a time and wants it taken (200).
func (th *trustHandler) send(at time.Time, fn string, body []byte) {
	th.t.Helper()
	th.setNow(at)
	if a := th.post(fn, body); a.status != http.StatusOK {
		th.t.Fatalf("POST /%s at %s: %d %s", fn, at.Format(time.RFC3339), a.status, a.body)
	}
}

// resourceEvent is one Event Grid event as the eventGridTrigger (the
// resourceevents function) receives it.
func resourceEvent(ev map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"Data": map[string]any{"event": ev},
		"Metadata": map[string]any{"sys": map[string]string{"MethodName": "resourceevents"}}})
	return b
}

// activityLog is Activity Log records as the activitylog function receives one message of them.
func activityLog(t *testing.T, records ...map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"records": records})
	return hostActivityLogInvocation(t, []string{string(b)})
}

// Event Grid schema events (research/azure-events.md §2).
func armEvent(id, eventType, operation, eventID string, when time.Time) map[string]any {
	return map[string]any{"id": eventID, "eventType": eventType, "subject": id, "eventTime": when.Format(time.RFC3339Nano),
		"topic": "/subscriptions/" + trustSub, "dataVersion": "2", "metadataVersion": "1",
		"data": map[string]any{"resourceUri": id, "operationName": operation, "status": "Succeeded",
			"correlationId": "corr-" + eventID, "subscriptionId": trustSub,
			"claims": map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com"}}}
}

func notificationEvent(kind, eventID string, when time.Time, body []byte) map[string]any {
	var info map[string]any
	json.Unmarshal(body, &info)
	return map[string]any{"id": eventID, "eventType": "Microsoft.ResourceNotifications.Resources." + kind, "subject": info["id"],
		"eventTime": when.Format(time.RFC3339Nano), "topic": "/subscriptions/" + trustSub, "dataVersion": "1", "metadataVersion": "1",
		"data": map[string]any{"resourceInfo": info}}
}

func alRecord(id, operation, corr string, when time.Time) map[string]any {
	return map[string]any{"time": when.Format(time.RFC3339Nano), "resourceId": id, "operationName": operation,
		"category": "Administrative", "resultType": "Success", "correlationId": corr, "level": "Information",
		"identity": map[string]any{"claims": map[string]any{"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn": "mallory@contoso.com"}}}
}

// findingsOf returns the findings about a resource, by rule.
func (th *trustHandler) findingsOf(id string) map[string]guard.Finding {
	th.t.Helper()
	fs, err := th.store.ListFindings(context.Background(), guard.FindingFilter{ResourceID: id})
	if err != nil {
		th.t.Fatal(err)
	}
	out := map[string]guard.Finding{}
	for _, f := range fs {
		out[f.Rule] = f
	}
	return out
}

// opened writes a replicated account to ARM and reports it with an Event Grid
// write event, which opens residency.replication on it.
func (th *trustHandler) opened(id string, at time.Time) {
	th.t.Helper()
	th.observe(at.Add(-time.Minute), storageBody(id, true, goodVault))
	th.send(at, "resourceevents", resourceEvent(armEvent(id, "Microsoft.Resources.ResourceWriteSuccess",
		"Microsoft.Storage/storageAccounts/write", "w-"+id[strings.LastIndex(id, "/")+1:], at)))
	if f, ok := th.findingsOf(id)[guard.RuleResidencyReplication]; !ok || f.Status != guard.StatusOpen {
		th.t.Fatalf("setup: residency.replication on %s = %+v, want open", id, f)
	}
}

// TestFaultTrustForgedDelete: a delete event, from any source, for a resource
// ARM still has (forged, or genuine but delivered after the resource was
// created again) closes nothing; the state ARM answers is judged. Only ARM's
// 404 resolves findings as deleted. Short: one account per delete source;
// full: ten each, and the same forged delete delivered again.
func TestFaultTrustForgedDelete(t *testing.T) {
	t.Parallel()
	n := faultsScale(t, 1, 10)
	const deleteOp = "Microsoft.Storage/storageAccounts/delete"
	sources := []struct {
		name string
		send func(th *trustHandler, id, eventID string, when time.Time)
	}{
		{"Event Grid ResourceDeleteSuccess", func(th *trustHandler, id, eventID string, when time.Time) {
			th.send(when, "resourceevents", resourceEvent(armEvent(id, "Microsoft.Resources.ResourceDeleteSuccess", deleteOp, eventID, when)))
		}},
		{"Activity Log delete record", func(th *trustHandler, id, eventID string, when time.Time) {
			th.send(when, "activitylog", activityLog(th.t, alRecord(id, deleteOp, "corr-"+eventID, when)))
		}},
		{"Resource Notifications Deleted", func(th *trustHandler, id, eventID string, when time.Time) {
			th.send(when, "resourceevents", resourceEvent(notificationEvent("Deleted", eventID, when, []byte(`{"id":"`+id+`","type":"Microsoft.Storage/storageAccounts"}`))))
		}},
		{"Event Grid webhook batch of deletes", func(th *trustHandler, id, eventID string, when time.Time) {
			b, _ := json.Marshal([]map[string]any{armEvent(id, "Microsoft.Resources.ResourceDeleteSuccess", deleteOp, eventID, when)})
			th.send(when, "eventgrid", webhookDelivery(string(b)))
		}},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			th := startTrustHandler(t, nil)
			var ids []string
			for i := range n {
				id := trustAccount(fmt.Sprintf("forged%02d", i))
				th.opened(id, trustAt(0))
				ids = append(ids, id)
			}
			// Forged: ARM still has every account, unchanged.
			for i, id := range ids {
				src.send(th, id, fmt.Sprintf("del-%d", i), trustAt(10))
				if faultsFull() {
					src.send(th, id, fmt.Sprintf("del-%d", i), trustAt(11)) // delivered again
				}
				for rule, f := range th.findingsOf(id) {
					if f.Status != guard.StatusOpen {
						t.Errorf("%s on %s after a forged delete: %s, want open (ARM still has it)", rule, id, f.Status)
					}
				}
				if r, err := th.store.GetResource(context.Background(), id); err != nil || r.Deleted {
					t.Errorf("last known state of %s = %+v, %v; want the state ARM answered", id, r, err)
				}
			}
			// Genuine but late: deleted and created again, compliant now. The
			// finding resolves because ARM's state is compliant, not as deleted.
			late := ids[0]
			th.gone(trustAt(20), late)
			th.observe(trustAt(25), storageBody(late, false, goodVault))
			src.send(th, late, "del-late", trustAt(30))
			f := th.findingsOf(late)[guard.RuleResidencyReplication]
			if f.Status != guard.StatusResolved || deletedResolution(f) {
				t.Errorf("after a late delete of a re-created compliant account: %s, resolution %v; want resolved on ARM's state", f.Status, f.Evidence["resolution"])
			}
			// Genuine: ARM answers 404. Now, and only now, the findings close as deleted.
			genuine := trustAccount("forged-genuine")
			th.opened(genuine, trustAt(40))
			th.gone(trustAt(45), genuine)
			src.send(th, genuine, "del-genuine", trustAt(46))
			for rule, f := range th.findingsOf(genuine) {
				if f.Status != guard.StatusResolved || !deletedResolution(f) {
					t.Errorf("%s on %s after ARM answered 404: %s, want resolved as deleted", rule, genuine, f.Status)
				}
			}
			th.up(src.name)
		})
	}
}

// deletedResolution reports whether a finding was resolved because its
// resource was deleted.
func deletedResolution(f guard.Finding) bool {
	res, _ := f.Evidence["resolution"].(map[string]any)
	facts, _ := res["facts"].(map[string]any)
	return facts["deleted"] == true
}

// webhookDelivery is an Event Grid push delivery to the eventgrid function
// (an httpTrigger) as the host hands it on.
func webhookDelivery(body string) []byte {
	b, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": map[string]any{
		"Url": "https://func-exportguard.azurewebsites.net/api/eventgrid?code=KEY", "Method": "POST",
		"Query":   map[string]string{"code": "KEY"},
		"Headers": map[string][]string{"aeg-event-type": {"Notification"}, "Content-Type": {"application/json"}},
		"Body":    body}},
		"Metadata": map[string]any{"sys": map[string]string{"MethodName": "eventgrid"}}})
	return b
}

// TestFaultTrustFutureDatedEvent: a Resource Notifications event dated in the
// future, with a compliant payload, resolves nothing (ARM is read, and still
// says otherwise), and blinds the guard to nothing: its time is taken as the
// time it was received, a warning names the resource, and the next real state
// is judged. Short: one future time; full: several, from just past the skew
// allowed to the year 9999.
func TestFaultTrustFutureDatedEvent(t *testing.T) {
	t.Parallel()
	futures := faultsScale(t,
		[]time.Time{time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
		[]time.Time{trustAt(10 + 6), trustAt(10 + 24*60), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)})
	for _, future := range futures {
		t.Run(future.Format(time.RFC3339), func(t *testing.T) {
			th := startTrustHandler(t, nil)
			id := trustAccount("futuredated")
			th.opened(id, trustAt(0))

			// The forged notification: compliant, from the future.
			th.send(trustAt(10), "resourceevents", resourceEvent(notificationEvent("CreatedOrUpdated", "rn-future", future, storageBody(id, false, goodVault))))
			if f := th.findingsOf(id)[guard.RuleResidencyReplication]; f.Status != guard.StatusOpen {
				t.Fatalf("after a compliant payload dated %s: %s, want open (ARM still says RA-GRS to West Europe)", future, f.Status)
			}
			logs := th.logs.String()
			if !strings.Contains(logs, `"level":"WARN","msg":"event time later than its receipt; taken as the receipt time"`) || !strings.Contains(logs, id) {
				t.Errorf("no warning naming %s for an event dated %s:\n%s", id, future, logs)
			}
			if r, err := th.store.GetResource(context.Background(), id); err != nil || r.ObservedAt.After(trustAt(10).Add(5*time.Minute)) {
				t.Errorf("last known state = %+v, %v; want nothing dated past receipt", r, err)
			}

			// A real change later: ARM says compliant. It is judged, and resolves.
			th.observe(trustAt(20), storageBody(id, false, goodVault))
			th.send(trustAt(21), "resourceevents", resourceEvent(armEvent(id, "Microsoft.Resources.ResourceWriteSuccess",
				"Microsoft.Storage/storageAccounts/write", "w-fix", trustAt(21))))
			if f := th.findingsOf(id)[guard.RuleResidencyReplication]; f.Status != guard.StatusResolved {
				t.Errorf("after the real fix read from ARM: %s, want resolved (the future-dated payload must blind nothing)", f.Status)
			}
			// And a real regression after that is seen too.
			th.observe(trustAt(30), storageBody(id, true, goodVault))
			th.send(trustAt(31), "activitylog", activityLog(t, alRecord(id, "Microsoft.Storage/storageAccounts/write", "corr-regress", trustAt(31))))
			if f := th.findingsOf(id)[guard.RuleResidencyReplication]; f.Status != guard.StatusOpen {
				t.Errorf("after a real regression read from ARM: %s, want open", f.Status)
			}
			th.up("future-dated event")
		})
	}
}
