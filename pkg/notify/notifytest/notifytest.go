// Package notifytest helps the notification packages' tests: realistic finding
// transitions in both clouds, the messages the planner makes of them, and a
// loopback HTTP server that records what a target was sent.
package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/notify"
)

// PublicURL is the exportguard API the approve and deny links of the
// fixtures point to.
const PublicURL = "https://exportguard.contoso.us"

// Case is one notification the tests render: a name (the golden file's) and
// how to make its message.
type Case struct {
	Name    string
	Message notify.Message
}

func finding(t testing.TB, js string) guard.Finding {
	t.Helper()
	var f guard.Finding
	if err := json.Unmarshal([]byte(js), &f); err != nil {
		t.Fatalf("fixture finding: %v", err)
	}
	return f
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func planner(t testing.TB, cloud, publicURL string) *notify.Planner {
	t.Helper()
	p, err := notify.NewPlanner(notify.Config{Cloud: cloud, PublicURL: publicURL,
		Kinds: []string{notify.KindTeams, notify.KindSlack, notify.KindWebhook}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// plan runs a transition through the planner and returns its message.
func plan(t testing.TB, p *notify.Planner, tr guard.Transition) notify.Message {
	t.Helper()
	items, err := p.Plan(context.Background(), tr)
	if err != nil || len(items) == 0 {
		t.Fatalf("plan %s: %d items, %v", tr.Finding.ID, len(items), err)
	}
	m, err := notify.DecodeMessage(items[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func remediated(t testing.TB, p *notify.Planner, o notify.RemediationOutcome) notify.Message {
	t.Helper()
	items, err := p.PlanRemediation(o)
	if err != nil || len(items) == 0 {
		t.Fatalf("plan remediation of %s: %d items, %v", o.Finding.ID, len(items), err)
	}
	m, err := notify.DecodeMessage(items[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const (
	eudrbackup  = "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/eudrbackup"
	itargovdata = "/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-itar-gov/providers/Microsoft.Storage/storageAccounts/itargovdata"
)

// Cases are the notifications every target's golden files cover: opened,
// reopened, resolved, exempted, exemption expired, remediation applied and
// failed, in the public cloud and Azure Government (with approve and deny
// links), and the sample "notify test" sends.
func Cases(t testing.TB) []Case {
	t.Helper()
	pub, gov := planner(t, "AzureCloud", ""), planner(t, "AzureUSGovernment", PublicURL)
	pubState := &guard.Resource{ID: eudrbackup, Type: "Microsoft.Storage/storageAccounts", Location: "northeurope"}
	govState := &guard.Resource{ID: itargovdata, Type: "Microsoft.Storage/storageAccounts", Location: "usgovvirginia"}

	opened := finding(t, `{"id":"eca4296fef9a5c93d5b212ac52bab4b5","rule":"residency.replication","severity":"high","status":"open","subscriptionId":"7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70","resourceId":"`+eudrbackup+`","message":"Storage account eudrbackup replicates (Standard_GZRS) to westeurope, outside the allowed geographies United States.","evidence":{"allowed":"geographies United States","primaryLocation":"northeurope","secondaryFrom":"properties.secondaryLocation","secondaryGeography":"Europe","secondaryLocation":"westeurope","sku":"Standard_GZRS"},"firstSeen":"2026-11-02T10:31:47.809Z","lastSeen":"2026-11-02T10:31:47.809Z","trigger":{"source":"eventhub","eventId":"al-7fa8f4e9ea122a7e75792ca9808539e0","correlationId":"c1e3a5b7-9d2f-4b6a-8c0e-2f4a6b8d0e95","caller":"bob.okafor@contoso.com"},"remediation":{"action":"set sku.name to Standard_ZRS","mode":"off","status":"none"}}`)

	govApprove := finding(t, `{"id":"b31901270671e48d031c53ebc84fa6f2","rule":"residency.replication","severity":"critical","status":"open","subscriptionId":"b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80","resourceId":"`+itargovdata+`","message":"Storage account itargovdata replicates (Standard_RAGRS) to usgovtexas, outside the allowed regions usgovvirginia.","evidence":{"allowed":"regions usgovvirginia","primaryLocation":"usgovvirginia","secondaryFrom":"properties.secondaryLocation","secondaryGeography":"US Government","secondaryLocation":"usgovtexas","sku":"Standard_RAGRS"},"firstSeen":"2026-11-03T14:02:12.02Z","lastSeen":"2026-11-03T14:02:12.02Z","trigger":{"source":"eventgrid","eventId":"3b5d7f9a-1c3e-4a5c-8e7a-9c1e3a5c7e33","correlationId":"7e9a1c3e-5f7b-4d9f-a1c3-e5f7a9b1d3f6","caller":"carol.diaz@contoso.us"},"remediation":{"action":"set sku.name to Standard_LRS","mode":"approve","status":"awaiting-approval"}}`)

	resolved := finding(t, `{"id":"7154d9b10ad0187ab95034fa12758c9c","rule":"residency.replication","severity":"high","status":"resolved","subscriptionId":"7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70","resourceId":"/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer","message":"Storage account partnerxfer replicates (Standard_RAGRS) to northeurope, outside the allowed geographies United States.","evidence":{"allowed":"geographies United States","primaryLocation":"westeurope","resolution":{"facts":{"sku":"Standard_LRS"},"message":"Storage account partnerxfer keeps its data in its primary region (Standard_LRS)."},"secondaryFrom":"properties.secondaryLocation","secondaryGeography":"Europe","secondaryLocation":"northeurope","sku":"Standard_RAGRS"},"firstSeen":"2026-11-02T09:20:04.118Z","lastSeen":"2026-11-02T10:05:03.64Z","resolvedAt":"2026-11-02T10:05:03.64Z","trigger":{"source":"eventgrid","eventId":"2a4c6e8f-0b1d-4f3a-9c5e-7a9b1d3f5e22","correlationId":"5c8e1a7f-2d4b-4c9e-a6f3-1b0d9e8c7a63","caller":"alice.nguyen@contoso.com"},"remediation":{"action":"set sku.name to Standard_LRS","mode":"off","status":"none"}}`)

	expired := finding(t, `{"id":"bde2009bd384fd7d85fb71772fd23297","rule":"residency.location","severity":"high","status":"open","subscriptionId":"7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70","resourceId":"/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-partner-xfer/providers/Microsoft.Storage/storageAccounts/partnerxfer","message":"Storage account partnerxfer is in West Europe (geography Europe), outside the allowed geographies United States.","evidence":{"allowed":"geographies United States","exemptionExpired":{"approvedBy":"export.officer@contoso.com","expiresOn":"2026-11-02T12:00:00Z","reason":"licence D-1187, partner data exchange","resource":"/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-partner-xfer"},"geography":"Europe","location":"westeurope","region":"westeurope","regionCloud":"AzurePublic","regionName":"West Europe"},"firstSeen":"2026-11-02T09:20:04.118Z","lastSeen":"2026-11-02T12:00:00Z","trigger":{"source":"timer","eventId":"sweep-2026-11-02T12:00:00Z","correlationId":"","caller":""},"remediation":{"action":"recreate partnerxfer in an allowed region (geographies United States), move its data there, and delete it from West Europe","mode":"off","status":"none"}}`)

	exempted := finding(t, `{"id":"0bb79ef0b637847abf3ed7e59e9a4a6e","rule":"encryption.cmk","severity":"high","status":"exempt","subscriptionId":"b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80","resourceId":"`+itargovdata+`","message":"Storage account itargovdata encrypts its data with Microsoft-managed keys (keySource Microsoft.Storage), not a customer-managed key in Key Vault.","evidence":{"exemption":{"approvedBy":"export.officer@contoso.us","expiresOn":"2026-12-31T00:00:00Z","reason":"key rotation project KR-22","resource":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-itar-gov"},"keySource":"Microsoft.Storage"},"firstSeen":"2026-11-03T14:02:12.02Z","lastSeen":"2026-11-03T16:00:00Z","trigger":{"source":"timer","eventId":"sweep-2026-11-03T16:00:00Z","correlationId":"","caller":""},"remediation":{"action":"set properties.encryption.keySource to Microsoft.Keyvault and properties.encryption.keyvaultproperties to a Key Vault key (keyname, keyvaulturi)","mode":"off","status":"none"}}`)

	reopened := opened
	reopened.Evidence = map[string]any{"allowed": "geographies United States", "primaryLocation": "northeurope",
		"secondaryLocation": "westeurope", "secondaryGeography": "Europe", "sku": "Standard_RAGZRS"}
	reopened.Message = "Storage account eudrbackup replicates (Standard_RAGZRS) to westeurope, outside the allowed geographies United States."
	reopened.LastSeen = at("2026-11-04T08:12:40.5Z")
	reopened.Trigger = guard.Trigger{Source: guard.SourceEventGrid, EventID: "9d1f3b5c-7e9a-4c1e-8a3c-5e7a9c1e3b51", CorrelationID: "e1a3c5e7-9b1d-4f3a-8c5e-7a9b1d3f5a72", Caller: "dr-automation@contoso.com"}
	reopened.Remediation = guard.Remediation{Action: "set sku.name to Standard_ZRS", Mode: guard.RemediationAuto, Status: "planned"}

	applied := govApprove
	applied.Remediation = guard.Remediation{Action: "set sku.name to Standard_LRS", Mode: guard.RemediationApprove, Status: "applied"}
	failed := opened
	failed.Remediation = guard.Remediation{Action: "set sku.name to Standard_ZRS", Mode: guard.RemediationAuto, Status: "failed"}

	return []Case{
		{"opened-public", plan(t, pub, guard.Transition{Finding: opened, Resource: pubState})},
		{"opened-gov-approve", plan(t, gov, guard.Transition{Finding: govApprove, Resource: govState})},
		{"reopened-public-auto", plan(t, pub, guard.Transition{Finding: reopened, From: guard.StatusResolved, Resource: pubState})},
		{"resolved-public", plan(t, pub, guard.Transition{Finding: resolved, From: guard.StatusOpen})},
		{"exemption-expired-public", plan(t, pub, guard.Transition{Finding: expired, From: guard.StatusExempt})},
		{"exempted-gov", plan(t, gov, guard.Transition{Finding: exempted, From: guard.StatusOpen, Resource: govState})},
		{"remediation-applied-gov", remediated(t, gov, notify.RemediationOutcome{Finding: applied, At: at("2026-11-03T14:20:31Z"),
			Detail: "Approved by export.officer@contoso.us; sku.name is now Standard_LRS.", Resource: govState})},
		{"remediation-failed-public", remediated(t, pub, notify.RemediationOutcome{Finding: failed, At: at("2026-11-02T10:32:05Z"),
			Detail: "ARM answered 409 Conflict: another operation is in progress on the account", Resource: pubState})},
		{"test-public", pub.Sample(at("2026-11-20T09:00:00Z"))},
		{"test-gov", gov.Sample(at("2026-11-20T09:00:00Z"))},
	}
}

// Digest is the burst the digest goldens fold: five notifications in Azure
// Government within a minute, two of them awaiting approval.
func Digest(t testing.TB) []notify.Message {
	t.Helper()
	gov := planner(t, "AzureUSGovernment", PublicURL)
	byName := map[string]notify.Message{}
	for _, c := range Cases(t) {
		byName[c.Name] = c.Message
	}
	unscreened := finding(t, `{"id":"4b08175c84ae18385c51c8c86c47290d","rule":"access.unscreened-principal","severity":"high","status":"open","subscriptionId":"b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80","resourceId":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/providers/Microsoft.Authorization/roleAssignments/bdd6ac10-2563-4467-b006-77a4c459ce9f","message":"Role assignment bdd6ac10-2563-4467-b006-77a4c459ce9f gives service principal f6e5d4c3-b2a1-4f0e-9d8c-7b6a5f4e3d2c the Contributor role at /subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80, but that principal is not on the screened-persons roster.","evidence":{"onRoster":false,"principalId":"f6e5d4c3-b2a1-4f0e-9d8c-7b6a5f4e3d2c","principalType":"ServicePrincipal","role":"Contributor","roleAssignmentId":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/providers/Microsoft.Authorization/roleAssignments/bdd6ac10-2563-4467-b006-77a4c459ce9f","roleAssignmentIdFrom":"the role assignment itself","roleDefinitionId":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c","rosterSize":3,"scope":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80"},"firstSeen":"2026-11-03T14:02:40.229Z","lastSeen":"2026-11-03T14:02:40.229Z","trigger":{"source":"eventhub","eventId":"al-7c714449c38f04929029d6b6399de5f6","correlationId":"9d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2c","caller":"priya.raman@contoso.us"},"remediation":{"action":"remove role assignment /subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/providers/Microsoft.Authorization/roleAssignments/bdd6ac10-2563-4467-b006-77a4c459ce9f","mode":"approve","status":"awaiting-approval"}}`)
	tls := finding(t, `{"id":"556b9a720483a1fd3a013a712374e7e2","rule":"transit.tls","severity":"medium","status":"open","subscriptionId":"b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80","resourceId":"/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/resourceGroups/rg-itar-gov-web/providers/Microsoft.Storage/storageAccounts/itargovportal","message":"Storage account itargovportal accepts TLS 1.1 (minimum TLS1_1).","evidence":{"minimumTlsVersion":"TLS1_1","supportsHttpsTrafficOnly":true},"firstSeen":"2026-11-03T14:02:55.602Z","lastSeen":"2026-11-03T14:02:55.602Z","trigger":{"source":"eventhub","eventId":"al-ad824a6ea35751839beb79a2c7eb7967","correlationId":"098d04be-d7fc-49f8-b2d8-97425f1ccbfd","caller":"carol.diaz@contoso.us"},"remediation":{"action":"set properties.minimumTlsVersion to TLS1_2","mode":"off","status":"none"}}`)
	tlsState := &guard.Resource{ID: tls.ResourceID, Type: "Microsoft.Storage/storageAccounts", Location: "usgovarizona"}
	return []notify.Message{
		byName["opened-gov-approve"],
		plan(t, gov, guard.Transition{Finding: unscreened}),
		plan(t, gov, guard.Transition{Finding: tls, Resource: tlsState}),
		byName["remediation-applied-gov"],
		byName["exempted-gov"],
	}
}

// Request is one request a Server received.
type Request struct {
	Path        string
	ContentType string
	Body        []byte
}

// Server is a loopback HTTP server standing in for a webhook: it records every
// request and answers with Respond (200 when nil).
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []Request
	// Respond answers the n-th request (from 1).
	Respond func(n int, w http.ResponseWriter)
}

// SetRespond sets Respond while the server may be answering.
func (s *Server) SetRespond(f func(n int, w http.ResponseWriter)) {
	s.mu.Lock()
	s.Respond = f
	s.mu.Unlock()
}

// NewServer starts a Server, closed when the test ends.
func NewServer(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, Request{Path: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body})
		n, respond := len(s.requests), s.Respond
		s.mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		if respond != nil {
			respond(n, w)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// Requests returns what the server received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count is the number of requests received.
func (s *Server) Count() int { return len(s.Requests()) }

// Status answers with a fixed status.
func Status(code int) func(int, http.ResponseWriter) {
	return func(_ int, w http.ResponseWriter) {
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d %s", code, http.StatusText(code))
	}
}

// Sorted returns keys of a map in order.
func Sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// NoWait is a TestOptions for a loopback server with no wall-clock spacing.
func NoWait() notify.TestOptions {
	return notify.TestOptions{AllowLoopbackHTTP: true, Sleep: func(context.Context, time.Duration) error { return nil }}
}

// Item is the outbox item of a message for a target kind.
func Item(t testing.TB, kind string, m notify.Message) guard.OutboxItem {
	t.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return guard.OutboxItem{ID: notify.ItemID(m.Finding.ID, string(m.Event), m.At, kind), Partition: guard.PartitionOf(m.Finding.ResourceID), Kind: kind, Payload: payload,
		CreatedAt: m.At, NextAttempt: m.At}
}

// SecretPath is the path of the test servers' URLs: a stand-in for the secret
// part of a webhook URL, which must never show in an error or a log.
const SecretPath = "/workflows/3f9c0b8e7d6a5f4e3d2c1b0a99887766/triggers/manual/paths/invoke?sig=Zm9vYmFyYmF6cXV4c2VjcmV0"

// NewSenderFunc builds a target's sender for a URL, with a store (nil for none).
type NewSenderFunc func(url string, st guard.Store) (*notify.Sender, error)

// PostCases sends every case through a sender of the kind to a loopback
// server, one server per case, and returns what each server received, by
// case name. With digest, it also sends Digest's burst through a dispatcher
// over a store, which the sender must fold into one request ("digest-gov").
func PostCases(t *testing.T, kind string, newSender NewSenderFunc, digest bool, st guard.Store) map[string]Request {
	t.Helper()
	ctx := context.Background()
	out := map[string]Request{}
	for _, c := range Cases(t) {
		srv := NewServer(t)
		s, err := newSender(srv.URL+SecretPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(ctx, Item(t, kind, c.Message), c.Message.At); err != nil {
			t.Fatalf("%s: send: %v", c.Name, err)
		}
		reqs := srv.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests, want 1", c.Name, len(reqs))
		}
		out[c.Name] = reqs[0]
	}
	if !digest {
		return out
	}
	srv := NewServer(t)
	s, err := newSender(srv.URL+SecretPath, st)
	if err != nil {
		t.Fatal(err)
	}
	ms := Digest(t)
	t0 := ms[len(ms)-1].At
	for _, m := range ms {
		it := Item(t, kind, m)
		it.NextAttempt = t0
		if err := st.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	d := &guard.Dispatcher{Outbox: st, Senders: map[string]guard.Sender{kind: s}}
	sum, err := d.Run(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || sum.Delivered != len(ms) {
		t.Fatalf("a burst of %d: %d requests and %+v, want one digest delivering all", len(ms), len(reqs), sum)
	}
	left, err := st.ListOutbox(ctx)
	if err != nil || len(left) != 0 {
		t.Fatalf("outbox after the digest: %v %v, want empty", left, err)
	}
	out["digest-gov"] = reqs[0]
	return out
}

// MatchGolden compares each body a target received with
// testdata/golden/NAME.json, byte for byte (with update, it writes them
// first), and reports golden files no case wrote. what names a body in
// messages ("card", "message", "event").
func MatchGolden(t *testing.T, got map[string]Request, update bool, what string) {
	t.Helper()
	for _, name := range Sorted(got) {
		body := got[name].Body
		golden := filepath.Join("testdata", "golden", name+".json")
		if update {
			if err := os.WriteFile(golden, body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if !bytes.Equal(want, body) {
			t.Errorf("%s: the %s sent differs from %s:\n%s", name, what, golden, body)
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if len(files) != len(got) {
		t.Errorf("%d golden files for %d %ss: remove the stale ones", len(files), len(got), what)
	}
}

// SyncBuffer collects log output written from several goroutines.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
