package resourcemanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/remediate"
	"github.com/exportguard/exportguard/pkg/rules"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// These tests run every remediation action end to end (planner, dispatcher,
// executor, ARM reader and writer) against a local TLS server standing in for
// ARM, which checks the exact method, path, api-version and JSON body of each
// write and answers with the long-running-operation protocols ARM uses
// (Azure-AsyncOperation, Location), in the public cloud and in Azure
// Government.

// lro is how the fake answers a write.
type lro string

const (
	lroSync     lro = "sync"     // 200 (or 204) at once
	lroAsync    lro = "async"    // 202 + Azure-AsyncOperation, polled InProgress then Succeeded
	lroLocation lro = "location" // 202 + Location, polled 202 then 200/204
)

type expectedWrite struct {
	method, path, apiVersion string
	body                     string // JSON; "" when none
	lro                      lro
}

// fakeARM holds resources by path, answers GETs at the version the reader
// pins, and checks and applies the writes it expects, in order.
type fakeARM struct {
	t         *testing.T
	mu        sync.Mutex
	resources map[string]string // lower-case path → body
	expect    []expectedWrite
	writes    int
	hosts     map[string]int // Host of every request
	ops       map[string]*pendingOp
	opSeq     int
	fail      []int // statuses to answer the next writes with, before any is accepted
	// normalize resolves "." and ".." in the path first, as a URL-normalising
	// front end may (ids_test.go).
	normalize bool
}

type pendingOp struct {
	polls  int // InProgress (or 202) answers left
	apply  func()
	method string
	path   string
}

func newFakeARM(t *testing.T, seed map[string]string) *fakeARM {
	f := &fakeARM{t: t, resources: map[string]string{}, hosts: map[string]int{}, ops: map[string]*pendingOp{}}
	for p, b := range seed {
		f.resources[strings.ToLower(p)] = b
	}
	return f
}

func (f *fakeARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[r.Host]++
	if f.normalize {
		r.URL.Path = path.Clean(r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
		f.t.Errorf("%s %s: Authorization %q", r.Method, r.URL.Path, got)
	}
	base := "https://" + r.Host
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasPrefix(r.URL.Path, "/operations/"):
		op := f.ops[r.URL.Path]
		if op == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if op.polls > 0 {
			op.polls--
			fmt.Fprint(w, `{"status":"InProgress"}`)
			return
		}
		if op.apply != nil {
			op.apply()
			op.apply = nil
		}
		fmt.Fprint(w, `{"status":"Succeeded"}`)
		return
	case strings.HasPrefix(r.URL.Path, "/locations/"):
		op := f.ops[r.URL.Path]
		if op == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if op.polls > 0 {
			op.polls--
			w.Header().Set("Location", base+r.URL.Path)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		if op.apply != nil {
			op.apply()
			op.apply = nil
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodGet:
		want, ok := APIVersion(guard.TypeOf(r.URL.Path))
		if !ok {
			want, _ = WriteAPIVersion(guard.TypeOf(r.URL.Path))
		}
		if v := r.URL.Query().Get("api-version"); v != want {
			f.t.Errorf("GET %s: api-version %q, want %q", r.URL.Path, v, want)
		}
		b, ok := f.resources[strings.ToLower(r.URL.Path)]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":"ResourceNotFound","message":"not found"}}`)
			return
		}
		fmt.Fprint(w, b)
		return
	}
	// A write.
	body, _ := io.ReadAll(r.Body)
	if len(f.fail) > 0 {
		status := f.fail[0]
		f.fail = f.fail[1:]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":"Code%d","message":"refused by the test"}}`, status)
		return
	}
	if len(f.expect) == 0 {
		f.t.Errorf("unexpected write %s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	exp := f.expect[0]
	f.expect = f.expect[1:]
	f.writes++
	if r.Method != exp.method || r.URL.Path != exp.path || r.URL.Query().Get("api-version") != exp.apiVersion || len(r.URL.Query()) != 1 {
		f.t.Errorf("write: got %s %s?%s\nwant %s %s?api-version=%s", r.Method, r.URL.Path, r.URL.RawQuery, exp.method, exp.path, exp.apiVersion)
	}
	if !jsonEqual(body, []byte(exp.body)) {
		f.t.Errorf("%s %s: body\n%s\nwant\n%s", r.Method, r.URL.Path, body, exp.body)
	}
	if exp.body != "" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	path := r.URL.Path
	apply := func() { f.apply(r.Method, path, body) }
	switch exp.lro {
	case lroSync:
		apply()
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusOK)
			return
		}
		if tags, ok := tagsOf(path); ok {
			fmt.Fprintf(w, `{"id":%q,"name":"default","type":"Microsoft.Resources/tags","properties":{"tags":%s}}`, path, f.tags(tags))
			return
		}
		fmt.Fprint(w, f.resources[strings.ToLower(path)])
	case lroAsync:
		f.opSeq++
		opPath := fmt.Sprintf("/operations/op-%d", f.opSeq)
		f.ops[opPath] = &pendingOp{polls: 1, apply: apply, method: r.Method, path: path}
		w.Header().Set("Azure-AsyncOperation", base+opPath+"?api-version="+exp.apiVersion)
		w.WriteHeader(http.StatusAccepted)
	case lroLocation:
		f.opSeq++
		opPath := fmt.Sprintf("/locations/op-%d", f.opSeq)
		f.ops[opPath] = &pendingOp{polls: 1, apply: apply, method: r.Method, path: path}
		w.Header().Set("Location", base+opPath)
		w.WriteHeader(http.StatusAccepted)
	}
}

func tagsOf(path string) (string, bool) {
	const suffix = "/providers/microsoft.resources/tags/default"
	if l := strings.ToLower(path); strings.HasSuffix(l, suffix) {
		return l[:len(l)-len(suffix)], true
	}
	return "", false
}

func (f *fakeARM) tags(scope string) string {
	var doc map[string]any
	_ = json.Unmarshal([]byte(f.resources[scope]), &doc)
	b, _ := json.Marshal(doc["tags"])
	return string(b)
}

// apply changes the held resources as ARM would.
func (f *fakeARM) apply(method, path string, body []byte) {
	key := strings.ToLower(path)
	if scope, ok := tagsOf(path); ok {
		var doc, req map[string]any
		_ = json.Unmarshal([]byte(f.resources[scope]), &doc)
		_ = json.Unmarshal(body, &req)
		tags, _ := doc["tags"].(map[string]any)
		if tags == nil {
			tags = map[string]any{}
		}
		for k, v := range req["properties"].(map[string]any)["tags"].(map[string]any) {
			tags[k] = v
		}
		doc["tags"] = tags
		b, _ := json.Marshal(doc)
		f.resources[scope] = string(b)
		return
	}
	switch method {
	case http.MethodDelete:
		delete(f.resources, key)
		parent := strings.ToLower(guard.ParentOf(path))
		if pb, ok := f.resources[parent]; ok {
			var doc map[string]any
			_ = json.Unmarshal([]byte(pb), &doc)
			if props, ok := doc["properties"].(map[string]any); ok {
				if rules, ok := props["securityRules"].([]any); ok {
					var kept []any
					for _, r := range rules {
						if id, _ := r.(map[string]any)["id"].(string); !strings.EqualFold(id, path) {
							kept = append(kept, r)
						}
					}
					props["securityRules"] = kept
				}
			}
			b, _ := json.Marshal(doc)
			f.resources[parent] = string(b)
		}
	case http.MethodPatch:
		var doc, patch any
		_ = json.Unmarshal([]byte(f.resources[key]), &doc)
		_ = json.Unmarshal(body, &patch)
		b, _ := json.Marshal(mergeJSON(doc, patch))
		f.resources[key] = string(b)
	case http.MethodPut:
		f.resources[key] = string(body)
	}
}

func mergeJSON(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergeJSON(tm[k], v)
		}
	}
	return tm
}

func jsonEqual(a, b []byte) bool {
	if len(bytes.TrimSpace(a)) == 0 || len(bytes.TrimSpace(b)) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// redirect sends every request to the test server, after noting the host it
// was meant for: how a client configured for a real cloud is tested here.
type redirect struct {
	target *url.URL
	inner  http.RoundTripper
	mu     sync.Mutex
	hosts  map[string]int
}

func (r *redirect) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts[req.URL.Host]++
	r.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = r.target.Scheme, r.target.Host
	resp, err := r.inner.RoundTrip(out)
	if resp != nil {
		resp.Request = req // as the cloud's endpoint answered it
	}
	return resp, err
}

// armClient returns a reader and writer for the fake, in the named cloud:
// AzureCloud talks to the server directly; AzureUSGovernment is configured as
// the real Government cloud and redirected, recording the hosts it meant.
func armClient(t *testing.T, fake *fakeARM, cloudName string) (*Client, *Writer, *redirect) {
	t.Helper()
	srv := httptest.NewTLSServer(fake)
	t.Cleanup(srv.Close)
	retry := policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Millisecond}
	var opts policy.ClientOptions
	var rd *redirect
	if cloudName == "AzureUSGovernment" {
		conf, err := Cloud(cloudName)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(srv.URL)
		rd = &redirect{target: u, inner: srv.Client().Transport, hosts: map[string]int{}}
		opts = policy.ClientOptions{Cloud: conf, Transport: rd, Retry: retry}
	} else {
		conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
		}}
		opts = policy.ClientOptions{Cloud: conf, Transport: srv.Client(), Retry: retry}
	}
	c, err := New(staticToken{}, &arm.ClientOptions{ClientOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(c)
	w.PollFrequency = time.Millisecond
	return c, w, rd
}

const (
	sub   = "6b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	outer = "0f9e8d7c-6b5a-4948-8372-615049382716" // a subscription outside the scope
	rg    = "/subscriptions/" + sub + "/resourceGroups/rg-itar"
)

func mustPolicy(t *testing.T, yaml string) *guard.Policy {
	t.Helper()
	p, err := policyfile.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const autoPolicy = `
cloud: AzureCloud
allowedRegions: [eastus, eastus2]
scope: {subscriptions: [` + sub + `]}
rules:
  residency.location: {mode: remediate}
  residency.replication: {mode: remediate}
  encryption.cmk: {mode: remediate}
  transit.tls: {mode: remediate}
  access.jit-overstay: {mode: remediate}
remediation: {mode: auto}
`

// world is a store, a planner and a dispatcher whose executor talks to the fake.
type world struct {
	t     *testing.T
	st    guard.Store
	pol   *guard.Policy
	pl    *remediate.Planner
	ex    *remediate.Executor
	d     *guard.Dispatcher
	now   time.Time
	fake  *fakeARM
	hosts *redirect
}

func newWorld(t *testing.T, fake *fakeARM, cloudName, policyYAML string) *world {
	t.Helper()
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	p := mustPolicy(t, policyYAML)
	c, w, rd := armClient(t, fake, cloudName)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ex := &remediate.Executor{Store: st, Policy: p, Reader: c, Writer: w, Log: log}
	return &world{t: t, st: st, pol: p, pl: &remediate.Planner{Store: st, Policy: p, Log: log}, ex: ex,
		d:   &guard.Dispatcher{Outbox: st, Senders: map[string]guard.Sender{remediate.Kind: ex}, Log: log, Backoff: func(int) time.Duration { return time.Minute }},
		now: time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC), fake: fake, hosts: rd}
}

// open stores the finding a verdict opens, as the pipeline does, and plans it.
func (w *world) open(v guard.Verdict, res, prev *guard.Resource) guard.Finding {
	w.t.Helper()
	ctx := context.Background()
	mode := guard.RemediationOff
	if w.pol.RuleMode(v.Rule) == guard.ModeRemediate {
		mode = w.pol.Remediation.Mode
	}
	status := "planned"
	if mode == guard.RemediationApprove {
		status = "awaiting-approval"
	}
	id := guard.FindingID(v.Rule, v.ResourceID, v.GrantID)
	f := guard.Finding{ID: id, Rule: v.Rule, Severity: "high", Status: guard.StatusOpen, SubscriptionID: guard.SubscriptionOf(v.ResourceID),
		ResourceID: v.ResourceID, Message: v.Message, Evidence: v.Evidence, FirstSeen: w.now, LastSeen: w.now,
		Trigger:     guard.Trigger{Source: guard.SourceEventHub, EventID: "ev-" + id[:8], CorrelationID: "corr-" + id[:8]},
		Remediation: guard.Remediation{Action: v.Action, Mode: mode, Status: status}}
	if _, err := w.st.UpdateFinding(ctx, guard.PartitionOf(f.ResourceID), id, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
		w.t.Fatal(err)
	}
	items, err := w.pl.Plan(ctx, guard.Transition{Finding: f, Verdict: v, Resource: res, Previous: prev})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, it := range items {
		if err := w.st.Enqueue(ctx, it); err != nil {
			w.t.Fatal(err)
		}
	}
	return f
}

func (w *world) dispatch() guard.DispatchSummary {
	w.t.Helper()
	sum, err := w.d.Run(context.Background(), w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return sum
}

func (w *world) finding(id string) *guard.Finding {
	w.t.Helper()
	f, err := w.st.GetFinding(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return f
}

// violation runs a real rule over a resource and returns its violating verdict.
func violation(t *testing.T, r guard.Rule, p *guard.Policy, res, prev *guard.Resource) guard.Verdict {
	t.Helper()
	for _, v := range r.Evaluate(guard.Input{Policy: p, Resource: res, Previous: prev, Now: time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)}) {
		if v.Violation {
			return v
		}
	}
	t.Fatalf("rule %s finds no violation in %s", r.ID(), res.ID)
	return guard.Verdict{}
}

func resource(t *testing.T, body string) *guard.Resource {
	t.Helper()
	r, err := guard.NewResource([]byte(body), time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Resource bodies, shaped as the REST spec examples (research/azure-events.md §4).
var (
	storageID  = rg + "/providers/Microsoft.Storage/storageAccounts/itardrawings"
	cosmosID   = rg + "/providers/Microsoft.DocumentDB/databaseAccounts/itar-docs"
	sqlServer  = rg + "/providers/Microsoft.Sql/servers/itar-sql"
	fgID       = sqlServer + "/failoverGroups/itar-fg"
	linkID     = sqlServer + "/databases/drawings/replicationLinks/4891ca10-ebd0-47d7-9182-c722651780fb"
	nsgID      = rg + "/providers/Microsoft.Network/networkSecurityGroups/vm-cad-01-nsg"
	jitRule    = "SecurityCenter-JITRule-1238069234-E30A5F200DAD2F2E7679169E9067CD31"
	vmID       = rg + "/providers/Microsoft.Compute/virtualMachines/vm-cad-01"
	raID       = rg + "/providers/Microsoft.Authorization/roleAssignments/bb2de10c-9f82-430f-bef5-2d284ffef2bd"
	vaultID    = rg + "/providers/Microsoft.KeyVault/vaults/kv-itar-eu"
	storageGRS = `{"id":"` + storageID + `","name":"itardrawings","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_RAGRS","tier":"Standard"},
		"properties":{"primaryLocation":"eastus","secondaryLocation":"westus","minimumTlsVersion":"TLS1_2","supportsHttpsTrafficOnly":true,
		"encryption":{"keySource":"Microsoft.Keyvault","keyvaultproperties":{"keyname":"wrappingKey","keyvaulturi":"https://kv-itar.vault.azure.net","keyversion":""}}}}`
	storageCMKOn  = `{"id":"` + storageID + `","name":"itardrawings","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_LRS"},"identity":{"type":"SystemAssigned"},"properties":{"minimumTlsVersion":"TLS1_2","encryption":{"keySource":"Microsoft.Keyvault","keyvaultproperties":{"currentVersionedKeyIdentifier":"https://myvault8569.vault.azure.net/keys/wrappingKey/0682afdd9c104f4285df20107e956cad","keyname":"wrappingKey","keyvaulturi":"https://myvault8569.vault.azure.net","keyversion":"","lastKeyRotationTimestamp":"2019-12-13T20:36:23.7023290Z"},"services":{"blob":{"enabled":true,"keyType":"Account"}}}}}`
	storageCMKOff = `{"id":"` + storageID + `","name":"itardrawings","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_LRS"},"identity":{"type":"SystemAssigned"},"properties":{"minimumTlsVersion":"TLS1_2","encryption":{"keySource":"Microsoft.Storage","services":{"blob":{"enabled":true,"keyType":"Account"}}}}}`
	storageTLS10  = `{"id":"` + storageID + `","name":"itardrawings","type":"Microsoft.Storage/storageAccounts","location":"eastus","sku":{"name":"Standard_LRS"},"properties":{"minimumTlsVersion":"TLS1_0","supportsHttpsTrafficOnly":false,"encryption":{"keySource":"Microsoft.Keyvault"}}}`
	sqlTLS10      = `{"id":"` + sqlServer + `","name":"itar-sql","type":"Microsoft.Sql/servers","location":"East US","properties":{"minimalTlsVersion":"1.0","state":"Ready"}}`
	cosmosTLS10   = `{"id":"` + cosmosID + `","name":"itar-docs","type":"Microsoft.DocumentDB/databaseAccounts","location":"East US","properties":{"minimalTlsVersion":"Tls","locations":[{"locationName":"East US","failoverPriority":0}]}}`
	cosmos3       = `{"id":"` + cosmosID + `","name":"itar-docs","type":"Microsoft.DocumentDB/databaseAccounts","location":"East US","properties":{"minimalTlsVersion":"Tls12",
		"locations":[{"id":"itar-docs-eastus","locationName":"East US","failoverPriority":0,"isZoneRedundant":false},{"id":"itar-docs-westeurope","locationName":"West Europe","failoverPriority":1,"isZoneRedundant":false},{"id":"itar-docs-eastus2","locationName":"East US 2","failoverPriority":2,"isZoneRedundant":true}]}}`
	fgBody = `{"id":"` + fgID + `","name":"itar-fg","type":"Microsoft.Sql/servers/failoverGroups","location":"East US","properties":{"replicationRole":"Primary",
		"partnerServers":[{"id":"` + rg + `/providers/Microsoft.Sql/servers/itar-sql-eu","location":"West Europe","replicationRole":"Secondary"}],"databases":[]}}`
	linkBody = `{"id":"` + linkID + `","name":"4891ca10-ebd0-47d7-9182-c722651780fb","properties":{"partnerServer":"itar-sql-eu","partnerDatabase":"drawings",
		"partnerDatabaseId":"` + rg + `/providers/Microsoft.Sql/servers/itar-sql-eu/databases/drawings","partnerLocation":"West Europe","role":"Primary","partnerRole":"Secondary","linkType":"GEO"}}`
	nsgBody = `{"id":"` + nsgID + `","name":"vm-cad-01-nsg","type":"Microsoft.Network/networkSecurityGroups","location":"eastus","properties":{"securityRules":[
		{"name":"` + jitRule + `","id":"` + nsgID + `/securityRules/` + jitRule + `","properties":{"access":"Allow","direction":"Inbound","priority":100,"sourceAddressPrefix":"203.0.113.10","destinationPortRange":"22"}},
		{"name":"SecurityCenter-JITRule_-1064669000_3DAC5482FAE91855ACA3E44E89BCDB86","id":"` + nsgID + `/securityRules/SecurityCenter-JITRule_-1064669000_3DAC5482FAE91855ACA3E44E89BCDB86","properties":{"access":"Deny","direction":"Inbound","priority":4095,"sourceAddressPrefix":"*","destinationPortRange":"22"}}]}}`
	raBody    = `{"id":"` + raID + `","name":"bb2de10c-9f82-430f-bef5-2d284ffef2bd","type":"Microsoft.Authorization/roleAssignments","properties":{"principalId":"a3bb8764-cb92-4276-9d2a-ca1e895e55ea","principalType":"User","roleDefinitionId":"/subscriptions/` + sub + `/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c","scope":"` + rg + `"}}`
	vaultBody = `{"id":"` + vaultID + `","name":"kv-itar-eu","type":"Microsoft.KeyVault/vaults","location":"westeurope","tags":{"owner":"eng"},"properties":{"sku":{"family":"A","name":"standard"}}}`
)

// actionCase is one remediation action, end to end.
type actionCase struct {
	name     string
	seed     map[string]string
	verdict  func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource)
	approve  bool // the plan waits for a person (destructive SQL actions, even in auto)
	writes   []expectedWrite
	check    func(t *testing.T, f *fakeARM) // the state ARM holds afterwards
	planOnly string                         // the action type planned
}

func actionCases() []actionCase {
	return []actionCase{
		{name: "storage GRS to LRS", planOnly: remediate.ActionStorageSKU,
			seed: map[string]string{storageID: storageGRS},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, storageGRS)
				return violation(t, rules.StorageReplication{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, storageID, "2024-01-01", `{"sku":{"name":"Standard_LRS"}}`, lroSync}},
			check: func(t *testing.T, f *fakeARM) {
				if !strings.Contains(f.resources[strings.ToLower(storageID)], `"Standard_LRS"`) {
					t.Errorf("SKU not changed: %s", f.resources[strings.ToLower(storageID)])
				}
			}},
		{name: "storage CMK restored from the previous state", planOnly: remediate.ActionStorageCMK,
			seed: map[string]string{storageID: storageCMKOff},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r, prev := resource(t, storageCMKOff), resource(t, storageCMKOn)
				return violation(t, rules.StorageCMK{}, p, r, prev), r, prev
			},
			writes: []expectedWrite{{http.MethodPatch, storageID, "2024-01-01",
				`{"properties":{"encryption":{"keySource":"Microsoft.Keyvault","keyvaultproperties":{"keyname":"wrappingKey","keyvaulturi":"https://myvault8569.vault.azure.net","keyversion":""}}}}`, lroSync}}},
		{name: "storage TLS 1.2 and HTTPS only", planOnly: remediate.ActionStorageTLS,
			seed: map[string]string{storageID: storageTLS10},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, storageTLS10)
				return violation(t, rules.StorageTLS{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, storageID, "2024-01-01", `{"properties":{"minimumTlsVersion":"TLS1_2","supportsHttpsTrafficOnly":true}}`, lroSync}}},
		{name: "SQL server TLS 1.2 (Azure-AsyncOperation)", planOnly: remediate.ActionSQLTLS,
			seed: map[string]string{sqlServer: sqlTLS10},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, sqlTLS10)
				return violation(t, rules.SQLTLS{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, sqlServer, "2023-08-01", `{"properties":{"minimalTlsVersion":"1.2"}}`, lroAsync}}},
		{name: "Cosmos DB TLS 1.2 (Azure-AsyncOperation)", planOnly: remediate.ActionCosmosTLS,
			seed: map[string]string{cosmosID: cosmosTLS10},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, cosmosTLS10)
				return violation(t, rules.CosmosTLS{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, cosmosID, "2024-11-15", `{"properties":{"minimalTlsVersion":"Tls12"}}`, lroAsync}}},
		{name: "Cosmos DB region outside removed (Azure-AsyncOperation)", planOnly: remediate.ActionCosmosRegions,
			seed: map[string]string{cosmosID: cosmos3},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, cosmos3)
				return violation(t, rules.CosmosReplication{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, cosmosID, "2024-11-15",
				`{"properties":{"locations":[{"locationName":"East US","failoverPriority":0,"isZoneRedundant":false},{"locationName":"East US 2","failoverPriority":1,"isZoneRedundant":true}]}}`, lroAsync}},
			check: func(t *testing.T, f *fakeARM) {
				if strings.Contains(f.resources[strings.ToLower(cosmosID)], "West Europe") {
					t.Errorf("West Europe still a location: %s", f.resources[strings.ToLower(cosmosID)])
				}
			}},
		{name: "SQL failover group deleted after approval (Location)", planOnly: remediate.ActionSQLFailoverGroup, approve: true,
			seed: map[string]string{fgID: fgBody},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, fgBody)
				return violation(t, rules.SQLFailoverGroupReplication{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodDelete, fgID, "2023-08-01", "", lroLocation}},
			check: func(t *testing.T, f *fakeARM) {
				if _, ok := f.resources[strings.ToLower(fgID)]; ok {
					t.Error("failover group still there")
				}
			}},
		{name: "SQL geo-replication link deleted after approval (Azure-AsyncOperation)", planOnly: remediate.ActionSQLReplicationLink, approve: true,
			seed: map[string]string{linkID: linkBody},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, linkBody)
				return violation(t, rules.SQLReplicationLinkReplication{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodDelete, linkID, "2023-08-01", "", lroAsync}}},
		{name: "JIT allow rule that outlived its window removed (Azure-AsyncOperation)", planOnly: remediate.ActionJITRule,
			seed: map[string]string{nsgID: nsgBody},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				ev := map[string]any{"nsgId": nsgID, "ruleName": jitRule, "ruleId": nsgID + "/securityRules/" + jitRule, "jitRule": true,
					"openRules": []map[string]any{{"nsgId": nsgID, "ruleName": jitRule, "ruleId": nsgID + "/securityRules/" + jitRule, "jitRule": true, "priority": 100}}}
				return guard.Verdict{Rule: guard.RuleJITOverstay, ResourceID: vmID, GrantID: "jit-1", Violation: true, Evidence: ev,
					Message: "port 22 still open", Action: "remove NSG rule " + jitRule}, nil, nil
			},
			writes: []expectedWrite{{http.MethodDelete, nsgID + "/securityRules/" + jitRule, "2024-05-01", "", lroAsync}},
			check: func(t *testing.T, f *fakeARM) {
				nsg := f.resources[strings.ToLower(nsgID)]
				if strings.Contains(nsg, jitRule) || !strings.Contains(nsg, "JITRule_-1064669000") {
					t.Errorf("the JIT allow rule, and only it, should be gone: %s", nsg)
				}
			}},
		{name: "PIM role assignment past its end deleted", planOnly: remediate.ActionRoleAssignmentDelete,
			seed: map[string]string{raID: raBody},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				ev := map[string]any{"roleAssignmentId": raID, "principalId": "a3bb8764-cb92-4276-9d2a-ca1e895e55ea", "role": "Contributor"}
				return guard.Verdict{Rule: guard.RuleJITOverstay, ResourceID: raID, Violation: true, Evidence: ev,
					Message: "role assignment outlived its schedule", Action: "remove role assignment " + raID}, resource(t, raBody), nil
			},
			writes: []expectedWrite{{http.MethodDelete, raID, "2022-04-01", "", lroSync}}},
		{name: "resource outside the allowed regions tagged, never deleted", planOnly: remediate.ActionTag,
			seed: map[string]string{vaultID: vaultBody},
			verdict: func(t *testing.T, p *guard.Policy) (guard.Verdict, *guard.Resource, *guard.Resource) {
				r := resource(t, vaultBody)
				return violation(t, rules.Location{}, p, r, nil), r, nil
			},
			writes: []expectedWrite{{http.MethodPatch, vaultID + "/providers/Microsoft.Resources/tags/default", "2021-04-01",
				`{"operation":"Merge","properties":{"tags":{"exportguard-finding":"` + guard.FindingID(guard.RuleResidencyLocation, vaultID, "") + `","exportguard-violation":"residency.location"}}}`, lroSync}},
			check: func(t *testing.T, f *fakeARM) {
				v := f.resources[strings.ToLower(vaultID)]
				if !strings.Contains(v, `"exportguard-violation":"residency.location"`) || !strings.Contains(v, `"owner":"eng"`) {
					t.Errorf("vault tags: %s", v)
				}
			}},
	}
}

func TestEveryActionAgainstARM(t *testing.T) {
	for _, cloudName := range []string{"AzureCloud", "AzureUSGovernment"} {
		for _, tc := range actionCases() {
			t.Run(cloudName+"/"+tc.name, func(t *testing.T) {
				fake := newFakeARM(t, tc.seed)
				fake.expect = append([]expectedWrite(nil), tc.writes...)
				w := newWorld(t, fake, cloudName, autoPolicy)
				v, res, prev := tc.verdict(t, w.pol)
				f := w.open(v, res, prev)
				plans, err := (&remediate.Approvals{Store: w.st}).List(context.Background(), f.ID)
				if err != nil || len(plans) != 1 {
					t.Fatalf("plans = %v, %v; want one", plans, err)
				}
				if got := plans[0].Plan.Action.Type; got != tc.planOnly {
					t.Fatalf("action %q, want %q (%s)", got, tc.planOnly, plans[0].Plan.Action.Reason)
				}
				w.dispatch()
				if tc.approve {
					if fake.writes != 0 {
						t.Fatalf("%d writes before approval, want none", fake.writes)
					}
					if s := w.finding(f.ID).Remediation.Status; s != "awaiting-approval" {
						t.Fatalf("status before approval %q", s)
					}
					a := &remediate.Approvals{Store: w.st, Now: func() time.Time { return w.now }}
					if _, err := a.Approve(context.Background(), f.ID, remediate.Approver{ObjectID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", Name: "alice@contoso.com", Via: "test"}, "CHG-1042"); err != nil {
						t.Fatal(err)
					}
					w.dispatch()
				}
				if fake.writes != len(tc.writes) || len(fake.expect) != 0 {
					t.Fatalf("%d writes made, %d expected not made", fake.writes, len(fake.expect))
				}
				got := w.finding(f.ID)
				if got.Remediation.Status != "applied" {
					t.Errorf("remediation status %q, want applied (evidence %v)", got.Remediation.Status, got.Evidence["remediation"])
				}
				if tc.check != nil {
					tc.check(t, fake)
				}
				for path, op := range fake.ops {
					if op.apply != nil || op.polls > 0 {
						t.Errorf("long-running operation %s of %s %s was not polled to its end", path, op.method, op.path)
					}
				}
				// Run again: nothing is due, and a re-run of the same plan writes nothing.
				w.dispatch()
				if fake.writes != len(tc.writes) {
					t.Errorf("a second dispatch wrote again: %d writes", fake.writes)
				}
				checkAppliedAudit(t, w.st, f.ID)
				if cloudName == "AzureUSGovernment" {
					for h := range w.hosts.hosts {
						if h != "management.usgovcloudapi.net" {
							t.Errorf("a Government-cloud client sent a request to %s", h)
						}
					}
					if w.hosts.hosts["management.usgovcloudapi.net"] == 0 {
						t.Error("no request went to the Government management endpoint")
					}
				}
			})
		}
	}
}

// checkAppliedAudit finds the remediation.applied record with before and after.
func checkAppliedAudit(t *testing.T, st guard.Store, findingID string) {
	t.Helper()
	f, err := st.GetFinding(context.Background(), findingID)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListAudit(context.Background(), guard.PartitionOf(f.ResourceID), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, r := range recs {
		if r.Subject != findingID {
			continue
		}
		kinds[r.Kind]++
		if r.Kind != "remediation.applied" {
			continue
		}
		var d struct {
			Steps []struct {
				Outcome string          `json:"outcome"`
				Before  json.RawMessage `json:"before"`
				After   json.RawMessage `json:"after"`
			} `json:"steps"`
		}
		if err := json.Unmarshal(r.Data, &d); err != nil || len(d.Steps) == 0 {
			t.Fatalf("remediation.applied data %s", r.Data)
		}
		for _, s := range d.Steps {
			if s.Outcome != "written" || len(s.Before) == 0 || string(s.Before) == "null" {
				t.Errorf("step %+v lacks its before state", s)
			}
		}
	}
	if kinds["remediation.planned"] != 1 || kinds["remediation.applied"] != 1 || kinds["remediation.applying"] < 1 {
		t.Errorf("audit records %v, want one planned, applying and one applied", kinds)
	}
}

// A plan whose write ARM throttles, or refuses for a conflict, is retried with
// backoff and applied once; one ARM refuses outright fails at once with the
// reason, kept in the outbox and on the finding.
func TestRetriesAndFailures(t *testing.T) {
	t.Run("409 then applied", func(t *testing.T) {
		fake := newFakeARM(t, map[string]string{storageID: storageGRS})
		fake.expect = []expectedWrite{{http.MethodPatch, storageID, "2024-01-01", `{"sku":{"name":"Standard_LRS"}}`, lroSync}}
		fake.fail = []int{http.StatusConflict}
		w := newWorld(t, fake, "AzureCloud", autoPolicy)
		r := resource(t, storageGRS)
		f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
		if sum := w.dispatch(); sum.Retried != 1 {
			t.Fatalf("first dispatch %+v, want a retry", sum)
		}
		if s := w.finding(f.ID).Remediation.Status; s != "planned" {
			t.Errorf("status after a retryable failure %q, want planned", s)
		}
		w.now = w.now.Add(2 * time.Minute) // past the backoff
		if sum := w.dispatch(); sum.Delivered != 1 {
			t.Fatalf("second dispatch %+v, want delivered", sum)
		}
		if fake.writes != 1 || w.finding(f.ID).Remediation.Status != "applied" {
			t.Errorf("writes %d, status %q", fake.writes, w.finding(f.ID).Remediation.Status)
		}
	})
	t.Run("429 retried by the pipeline", func(t *testing.T) {
		fake := newFakeARM(t, map[string]string{storageID: storageGRS})
		fake.expect = []expectedWrite{{http.MethodPatch, storageID, "2024-01-01", `{"sku":{"name":"Standard_LRS"}}`, lroSync}}
		fake.fail = []int{http.StatusTooManyRequests}
		w := newWorld(t, fake, "AzureCloud", autoPolicy)
		r := resource(t, storageGRS)
		f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
		if sum := w.dispatch(); sum.Delivered != 1 || w.finding(f.ID).Remediation.Status != "applied" {
			t.Errorf("dispatch %+v, status %q", sum, w.finding(f.ID).Remediation.Status)
		}
	})
	t.Run("400 fails at once", func(t *testing.T) {
		fake := newFakeARM(t, map[string]string{storageID: storageGRS})
		fake.fail = []int{http.StatusBadRequest}
		w := newWorld(t, fake, "AzureCloud", autoPolicy)
		r := resource(t, storageGRS)
		f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
		if sum := w.dispatch(); sum.Failed != 1 {
			t.Fatalf("dispatch %+v, want failed", sum)
		}
		got := w.finding(f.ID)
		if got.Remediation.Status != "failed" {
			t.Errorf("status %q, want failed", got.Remediation.Status)
		}
		items, _ := w.st.ListOutbox(context.Background())
		if len(items) != 1 || !items[0].Failed || !strings.Contains(items[0].LastError, "400") {
			t.Errorf("outbox %+v, want the plan kept as failed with ARM's 400", items)
		}
	})
	t.Run("every attempt fails", func(t *testing.T) {
		fake := newFakeARM(t, map[string]string{storageID: storageGRS})
		fake.fail = []int{409, 409, 409, 409, 409, 409}
		w := newWorld(t, fake, "AzureCloud", autoPolicy)
		r := resource(t, storageGRS)
		f := w.open(violation(t, rules.StorageReplication{}, w.pol, r, nil), r, nil)
		for i := 0; i < 6; i++ {
			w.dispatch()
			w.now = w.now.Add(2 * time.Minute)
		}
		got := w.finding(f.ID)
		items, _ := w.st.ListOutbox(context.Background())
		if got.Remediation.Status != "failed" || len(items) != 1 || !items[0].Failed || !strings.Contains(items[0].LastError, "gave up after 6 attempt(s)") {
			t.Errorf("status %q, outbox %+v", got.Remediation.Status, items)
		}
	})
}

func TestWriterRefusesWhatItCannotVersion(t *testing.T) {
	fake := newFakeARM(t, nil)
	_, w, _ := armClient(t, fake, "AzureCloud")
	_, err := w.Patch(context.Background(), rg+"/providers/Microsoft.Web/sites/app1", []byte(`{}`))
	if !errors.Is(err, guard.ErrUnsupported) {
		t.Errorf("a type without a pinned version: err = %v, want guard.ErrUnsupported", err)
	}
	if err := w.Delete(context.Background(), "/providers/Microsoft.Management/managementGroups/mg1"); !errors.Is(err, guard.ErrUnsupported) {
		t.Errorf("an ID outside any subscription: err = %v", err)
	}
	// DELETE of what is gone is done; PATCH of it is not found.
	fake.fail = []int{http.StatusNotFound, http.StatusNotFound}
	if err := w.Delete(context.Background(), raID); err != nil {
		t.Errorf("DELETE answered 404: %v, want nil (already gone)", err)
	}
	if _, err := w.Patch(context.Background(), storageID, []byte(`{}`)); !errors.Is(err, guard.ErrNotFound) {
		t.Errorf("PATCH answered 404: %v, want guard.ErrNotFound", err)
	}
}
