package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/remediate"
	"github.com/exportguard/exportguard/pkg/replay"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/session"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

// The remediation sessions (testdata/sessions/remediation-*.ndjson): the same
// events under auto, dry-run, approve and no scope list.
const (
	remSession  = "testdata/sessions/remediation-auto.ndjson"
	remAuto     = "testdata/sessions/remediation-auto.policy.yaml"
	remDryRun   = "testdata/sessions/remediation-dry-run.policy.yaml"
	remApprove  = "testdata/sessions/remediation-approve.policy.yaml"
	remSub      = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	remRG       = "/subscriptions/" + remSub + "/resourceGroups/rg-itar-eng/providers/"
	remItarcad  = remRG + "Microsoft.Storage/storageAccounts/itarcad"
	remItarkeys = remRG + "Microsoft.Storage/storageAccounts/itarkeys"
	remFTP      = remRG + "Microsoft.Storage/storageAccounts/legacyftp"
	remDocs     = remRG + "Microsoft.DocumentDB/databaseAccounts/eng-docs"
	remServer   = remRG + "Microsoft.Sql/servers/sql-itar-east"
	remFG       = remServer + "/failoverGroups/fg-itar-drawings"
	remVault    = "/subscriptions/" + remSub + "/resourceGroups/rg-partner-eu/providers/Microsoft.KeyVault/vaults/kv-partner-eu"
)

// The writes auto remediation makes for the session, in order.
var remWantWrites = []string{
	"PATCH " + remItarcad + ` {"sku":{"name":"Standard_LRS"}}`,
	"PATCH " + remFTP + ` {"properties":{"minimumTlsVersion":"TLS1_2","supportsHttpsTrafficOnly":true}}`,
	"PATCH " + remItarkeys + ` {"properties":{"encryption":{"identity":{"userAssignedIdentity":"` + remRG + `Microsoft.ManagedIdentity/userAssignedIdentities/id-itar-storage"},"keySource":"Microsoft.Keyvault","keyvaultproperties":{"keyname":"itarkeys-cmk","keyvaulturi":"https://kv-itar-eng.vault.azure.net","keyversion":""}}}}`,
	"PATCH " + remDocs + ` {"properties":{"locations":[{"failoverPriority":0,"isZoneRedundant":false,"locationName":"East US"}]}}`,
	"PATCH " + remVault + `/providers/Microsoft.Resources/tags/default {"operation":"Merge","properties":{"tags":{"exportguard-finding":"` +
		guard.FindingID(guard.RuleResidencyLocation, remVault, "") + `","exportguard-violation":"residency.location"}}}`,
}

func writesOf(ws []replay.Write) []string {
	var out []string
	for _, w := range ws {
		s := w.Method + " " + w.ID
		if len(w.Body) > 0 {
			s += " " + string(w.Body)
		}
		out = append(out, s)
	}
	return out
}

// replayInProcess replays a session through newPipeline into st, as the replay
// verb does, and returns the writes remediation made to the session's ARM.
// Without dispatch the pipeline plans but never delivers: a process stopped
// between planning and applying.
func replayInProcess(t *testing.T, st guard.Store, policyPath, session string, dispatch bool) []replay.Write {
	t.Helper()
	pol, err := policyfile.Load(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := testApp().sweepSchedule()
	if err != nil {
		t.Fatal(err)
	}
	reconcileSched, err := testApp().reconcileSchedule()
	if err != nil {
		t.Fatal(err)
	}
	pl, err := testApp().newPipeline(st, nil, pol, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !dispatch {
		pl.Dispatcher = nil
	}
	var arm *replay.ARM
	r := &replay.Replayer{Pipeline: pl, Schedule: sched, Reconcile: reconcileSched, Errors: io.Discard,
		Bind: func(a *replay.ARM) { arm = a; bindRemediation(pl, a) }}
	f, err := os.Open(session)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := r.Run(context.Background(), session, f); err != nil {
		t.Fatal(err)
	}
	return arm.Writes()
}

func openSQLite(t *testing.T, path string) guard.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func auditCount(t *testing.T, st guard.Store, kind string) int {
	t.Helper()
	recs, err := trailEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

func storeFindingsJSON(t *testing.T, st guard.Store) string {
	t.Helper()
	fs, err := st.ListFindings(context.Background(), guard.FindingFilter{})
	if err != nil {
		t.Fatal(err)
	}
	sortFindings(fs)
	var b bytes.Buffer
	if err := printJSON(&b, fs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Auto remediation applies each fix exactly once, though the session delivers
// events twice (the Activity Log record of itarcad's change, Event Grid's event
// of itarkeys'), and Event Grid and the Activity Log report one operation.
func TestReplayAutoAppliesEachFixOnce(t *testing.T) {
	t.Parallel()
	st := openSQLite(t, ":memory:")
	defer st.Close()
	writes := replayInProcess(t, st, remAuto, remSession, true)
	if got := writesOf(writes); !slices.Equal(got, remWantWrites) {
		t.Errorf("writes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(remWantWrites, "\n"))
	}
	if n := auditCount(t, st, "remediation.applied"); n != len(remWantWrites) {
		t.Errorf("%d remediation.applied records, want %d", n, len(remWantWrites))
	}
	for id, want := range map[string]string{
		guard.FindingID(guard.RuleResidencyReplication, remItarcad, ""):                            "resolved applied",
		guard.FindingID(guard.RuleEncryptionCMK, remItarkeys, ""):                                  "resolved applied",
		guard.FindingID(guard.RuleTransitTLS, remFTP, ""):                                          "resolved applied",
		guard.FindingID(guard.RuleResidencyReplication, remDocs, ""):                               "resolved applied",
		guard.FindingID(guard.RuleResidencyLocation, remVault, ""):                                 "open applied", // tagged, never deleted
		guard.FindingID(guard.RuleResidencyReplication, remServer, guard.ChildVerdictGrant(remFG)): "open awaiting-approval",
	} {
		f, err := st.GetFinding(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(f.Status) + " " + f.Remediation.Status; got != want {
			t.Errorf("%s %s: %s, want %s", f.Rule, f.ResourceID[strings.LastIndex(f.ResourceID, "/")+1:], got, want)
		}
	}
	// The replay verb counts the writes on stderr.
	_, stderr, err := run(t, "replay", "--policy", remAuto, remSession)
	if err != nil || !strings.Contains(stderr, "5 remediation write(s) to the session's ARM") {
		t.Errorf("replay summary: %v\n%s", err, stderr)
	}
}

// A process stopped between planning and applying applies the plan once when
// it runs again, and ends exactly where an uninterrupted run ends (the golden
// of remediation-auto). The first process reads the session up to itarcad's
// change, delivered twice, with no dispatcher: the plan is stored, not run.
// The second reads the whole session again, as the Event Hubs checkpoint and
// Event Grid's retries would redeliver it.
func TestReplayCrashBetweenPlanningAndApplying(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw, err := os.ReadFile(remSession)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	cut := 0
	for i, l := range lines {
		if strings.Contains(l, `"source":"clock","at":"2026-11-18T09:10:00Z"`) {
			cut = i
			break
		}
	}
	if cut == 0 {
		t.Fatal("test set-up: the 09:10 clock line was not found")
	}
	before := filepath.Join(dir, "until-crash.ndjson")
	if err := os.WriteFile(before, []byte(strings.Join(lines[:cut], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "crash.db")
	st := openSQLite(t, db)
	if w := replayInProcess(t, st, remAuto, before, false); len(w) != 0 {
		t.Fatalf("the planning-only run wrote %v", writesOf(w))
	}
	items, err := st.ListOutbox(context.Background())
	if err != nil || len(items) != 1 || !strings.Contains(items[0].ID, guard.FindingID(guard.RuleResidencyReplication, remItarcad, "")) {
		t.Fatalf("outbox at the crash: %+v (%v), want itarcad's plan, stored before it runs", items, err)
	}
	st.Close()

	st = openSQLite(t, db) // the restart
	defer st.Close()
	writes := replayInProcess(t, st, remAuto, remSession, true)
	if got := writesOf(writes); !slices.Equal(got, remWantWrites) {
		t.Errorf("writes after the restart:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(remWantWrites, "\n"))
	}
	want, err := os.ReadFile("testdata/golden/remediation-auto.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := storeFindingsJSON(t, st); got != string(want) {
		t.Errorf("findings after crash and restart differ from an uninterrupted run's:\ngot:\n%s\nwant:\n%s", got, want)
	}
	if n := auditCount(t, st, "remediation.applied"); n != len(remWantWrites) {
		t.Errorf("%d remediation.applied records, want %d", n, len(remWantWrites))
	}
}

func TestReplayDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	st := openSQLite(t, ":memory:")
	defer st.Close()
	if w := replayInProcess(t, st, remDryRun, remSession, true); len(w) != 0 {
		t.Fatalf("dry-run wrote %v", writesOf(w))
	}
	if n := auditCount(t, st, "remediation.dry-run"); n != 6 {
		t.Errorf("%d remediation.dry-run records, want one per plan (6)", n)
	}
	if items, _ := st.ListOutbox(context.Background()); len(items) != 0 {
		t.Errorf("dry-run enqueued %d items", len(items))
	}
}

// Plans stored under one scope list are never written once the policy in
// force no longer lists their subscription: a finding outside the scope
// allowlist is never acted on.
func TestReplayOutsideScopeNeverWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "scope.db")
	st := openSQLite(t, db)
	if w := replayInProcess(t, st, remAuto, remSession, false); len(w) != 0 {
		t.Fatal("planning wrote")
	}
	st.Close()
	narrowed := filepath.Join(dir, "narrowed.yaml")
	raw, err := os.ReadFile(remAuto)
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(string(raw), "scope: {subscriptions: ["+remSub+"]}", "scope: {subscriptions: [0f9e8d7c-6b5a-4948-8372-615049382716]}", 1)
	if other == string(raw) {
		t.Fatal("test set-up: scope line not found")
	}
	if err := os.WriteFile(narrowed, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	st = openSQLite(t, db)
	defer st.Close()
	if w := replayInProcess(t, st, narrowed, remSession, true); len(w) != 0 {
		t.Fatalf("written outside the scope allowlist: %v", writesOf(w))
	}
	items, _ := st.ListOutbox(context.Background())
	refused := 0
	for _, it := range items {
		if it.Failed && strings.Contains(it.LastError, "not in scope.subscriptions") {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d plans refused for scope, want the 5 due ones: %+v", refused, items)
	}
	// And with no scope list at all (the remediation-no-scope session), nothing is written either.
	st2 := openSQLite(t, ":memory:")
	defer st2.Close()
	if w := replayInProcess(t, st2, "testdata/sessions/remediation-no-scope.policy.yaml", remSession, true); len(w) != 0 {
		t.Fatalf("written with an empty scope list: %v", writesOf(w))
	}
	if n := auditCount(t, st2, "remediation.refused"); n != 6 {
		t.Errorf("%d remediation.refused records, want 6", n)
	}
}

// principalHeader is X-MS-CLIENT-PRINCIPAL for an Entra ID user holding the
// given app roles (the "roles" claim of the token).
func principalHeader(oid, upn string, roles ...string) string {
	claims := []map[string]string{
		{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
		{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": upn},
		{"typ": "name", "val": "Export Officer"},
	}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": "roles", "val": r})
	}
	b, _ := json.Marshal(map[string]any{"auth_typ": "aad", "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"claims": claims})
	return base64.StdEncoding.EncodeToString(b)
}

// apiCall invokes the api function through the handler the way the Functions
// host does, and returns Outputs.res.
func apiCall(t *testing.T, srv *httptest.Server, method, path string, params map[string]string, principal, body string) (int, json.RawMessage) {
	t.Helper()
	headers := map[string][]string{"Host": {"func-exportguard.azurewebsites.net"}}
	if principal != "" {
		headers["X-MS-CLIENT-PRINCIPAL"] = []string{principal}
		headers["X-MS-CLIENT-PRINCIPAL-IDP"] = []string{"aad"}
	}
	req := map[string]any{"Url": "https://func-exportguard.azurewebsites.net/api/" + path, "Method": method,
		"Query": map[string]string{}, "Headers": headers, "Params": params}
	if body != "" {
		req["Body"] = body
	}
	env, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": req}, "Metadata": map[string]any{}})
	resp, err := srv.Client().Post(srv.URL+"/api", "application/json", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Outputs struct {
			Res struct {
				StatusCode int             `json:"statusCode"`
				Body       json.RawMessage `json:"body"`
			} `json:"res"`
		}
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil {
		t.Fatalf("invocation answered %d", resp.StatusCode)
	}
	return out.Outputs.Res.StatusCode, out.Outputs.Res.Body
}

// With approve nothing is written until a person approves: through the api
// function (an Entra ID principal from App Service authentication), then the
// plan runs at the next dispatch, once; through the CLI (the OS user), then
// remediate run carries it out against ARM; a denial is kept with its reason.
func TestApproveThroughAPIAndCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "approve.db")
	st := openSQLite(t, db)
	if w := replayInProcess(t, st, remApprove, remSession, true); len(w) != 0 {
		t.Fatalf("approve mode wrote before any approval: %v", writesOf(w))
	}

	// The api function, on the store, at a time within the approval window.
	pol, _ := policyfile.Load(remApprove)
	// servedIngester's approvals stamp decisions with the app's clock; in
	// this test, with the time of the session.
	approvedAt := time.Date(2026, 11, 18, 10, 5, 0, 0, time.UTC)
	clock := approvedAt
	app := testApp()
	app.Now = func() time.Time { return clock }
	pl, err := app.newPipeline(st, nil, pol, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := functions.NewHandler(functions.Options{Ingester: app.servedIngester(pl, st), Now: func() time.Time { return approvedAt },
		APIAuth: functions.APIAuth{AppServiceAuth: true}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(h)
	defer srv.Close()

	cad := guard.FindingID(guard.RuleResidencyReplication, remItarcad, "")
	if code, _ := apiCall(t, srv, "POST", "findings/"+cad+"/approve", map[string]string{"id": cad, "action": "approve"}, "", `{"reason":"x"}`); code != 401 {
		t.Errorf("approve without a principal: %d, want 401", code)
	}
	// Who may not decide: a reader, and the person whose change caused the
	// finding (bob.okafor@contoso.com in the session), approver or not.
	reader := principalHeader("7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d", "auditor@contoso.com", functions.RoleReader)
	if code, body := apiCall(t, srv, "POST", "findings/"+cad+"/approve", map[string]string{"id": cad, "action": "approve"}, reader, `{"reason":"x"}`); code != 403 {
		t.Errorf("approve as a reader: %d %s, want 403", code, body)
	}
	cause := principalHeader("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "Bob.Okafor@contoso.com", functions.RoleApprover)
	for _, action := range []string{"approve", "deny"} {
		code, body := apiCall(t, srv, "POST", "findings/"+cad+"/"+action, map[string]string{"id": cad, "action": action}, cause, `{"reason":"mine"}`)
		if code != 403 || !strings.Contains(string(body), "separation of duties") {
			t.Errorf("%s by the finding's cause: %d %s, want 403", action, code, body)
		}
	}
	officer := principalHeader("5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c", "export.officer@contoso.com", functions.RoleApprover)
	code, body := apiCall(t, srv, "GET", "findings?status=open", nil, officer, "")
	if code != 200 || strings.Count(string(body), `"status":"awaiting-approval"`) != 6 {
		t.Errorf("GET findings: %d %s", code, body)
	}
	code, body = apiCall(t, srv, "GET", "findings/"+cad, map[string]string{"id": cad}, officer, "")
	if code != 200 || !strings.Contains(string(body), `"remediationPlans"`) || !strings.Contains(string(body), "storage.set-sku") {
		t.Errorf("GET finding: %d %s", code, body)
	}
	code, body = apiCall(t, srv, "POST", "findings/"+cad+"/approve", map[string]string{"id": cad, "action": "approve"}, officer, `{"reason":"CHG-2211: LRS is enough for CAD drawings"}`)
	if code != 200 {
		t.Fatalf("approve: %d %s", code, body)
	}
	if code, _ := apiCall(t, srv, "POST", "findings/"+cad+"/approve", map[string]string{"id": cad, "action": "approve"}, officer, `{"reason":"again"}`); code != 409 {
		t.Errorf("second approval: %d, want 409", code)
	}
	st.Close()

	// The next dispatch (here: the session replayed again) applies it, once.
	st = openSQLite(t, db)
	writes := replayInProcess(t, st, remApprove, remSession, true)
	if got := writesOf(writes); !slices.Equal(got, remWantWrites[:1]) {
		t.Errorf("writes after the approval: %v, want only itarcad's", got)
	}
	f, _ := st.GetFinding(context.Background(), cad)
	if f.Remediation.Status != "applied" {
		t.Errorf("itarcad remediation %q, want applied", f.Remediation.Status)
	}
	recs, _ := trailEvents(st)
	var approvedRec string
	for _, r := range recs {
		if r.Kind == "remediation.approved" && r.Subject == cad {
			approvedRec = string(r.Data)
		}
	}
	if !strings.Contains(approvedRec, "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c") || !strings.Contains(approvedRec, "export.officer@contoso.com") || !strings.Contains(approvedRec, "CHG-2211") {
		t.Errorf("remediation.approved record: %s", approvedRec)
	}
	st.Close()

	// The CLI: list, approve legacyftp's plan, deny the vault's tag.
	store := "sqlite:" + db
	out, _, err := runApp(t, app, "remediate", "list", "--store", store)
	if err != nil || !strings.Contains(out, "awaiting-approval") || !strings.Contains(out, "legacyftp") {
		t.Fatalf("remediate list: %v\n%s", err, out)
	}
	ftp := guard.FindingID(guard.RuleTransitTLS, remFTP, "")
	if _, _, err := runApp(t, app, "remediate", "approve", ftp, "--store", store); err == nil {
		t.Error("approve without --reason must be refused")
	}
	out, _, err = runApp(t, app, "remediate", "approve", ftp, "--reason", "CHG-2212", "--store", store)
	if err != nil || !strings.Contains(out, "approved by ") {
		t.Fatalf("remediate approve: %v\n%s", err, out)
	}
	vault := guard.FindingID(guard.RuleResidencyLocation, remVault, "")
	if out, _, err = runApp(t, app, "remediate", "deny", vault, "--reason", "partner licence P-77 covers West Europe", "--store", store); err != nil {
		t.Fatalf("remediate deny: %v\n%s", err, out)
	}
	out, _, err = runApp(t, app, "remediate", "list", "--store", store, "--format", "json")
	if err != nil || !strings.Contains(out, "denied by ") || !strings.Contains(out, "P-77") || !strings.Contains(out, `"state":"approved"`) {
		t.Errorf("remediate list after the decisions: %v\n%s", err, out)
	}

	// remediate run carries the approved plan out against ARM (a local TLS server), once.
	fake := &cliARM{t: t, body: armBodyOf(t, remSession, remFTP, "TLS1_0")}
	srvARM := httptest.NewTLSServer(fake)
	defer srvARM.Close()
	app.NewARM = func(cloudName string, _ resourcemanager.Options) (*resourcemanager.Client, error) {
		if cloudName != "AzureCloud" {
			t.Errorf("cloud %q", cloudName)
		}
		conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srvARM.URL, Audience: "https://management.core.windows.net/"}}}
		return resourcemanager.New(staticCred{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf, Transport: srvARM.Client()}})
	}
	clock = approvedAt.Add(10 * time.Minute)
	out, _, err = runApp(t, app, "remediate", "run", "--store", store, "--policy", remApprove)
	if err != nil || !strings.Contains(out, "1 done") {
		t.Fatalf("remediate run: %v\n%s", err, out)
	}
	out, _, err = runApp(t, app, "remediate", "run", "--store", store, "--policy", remApprove)
	if err != nil || !strings.Contains(out, "no remediation plan is due") {
		t.Errorf("second remediate run: %v\n%s", err, out)
	}
	if fake.patches != 1 {
		t.Errorf("ARM got %d PATCHes, want 1", fake.patches)
	}
	st = openSQLite(t, db)
	defer st.Close()
	if f, _ := st.GetFinding(context.Background(), ftp); f.Remediation.Status != "applied" {
		t.Errorf("legacyftp remediation %q", f.Remediation.Status)
	}
	if f, _ := st.GetFinding(context.Background(), vault); f.Remediation.Status != "none" {
		t.Errorf("denied plan's remediation %q, want none", f.Remediation.Status)
	}
	var applied string
	recs, _ = trailEvents(st)
	for _, r := range recs {
		if r.Kind == "remediation.applied" && r.Subject == ftp {
			applied = string(r.Data)
		}
	}
	if !strings.Contains(applied, "not an Entra ID principal") || !strings.Contains(applied, "CHG-2212") {
		t.Errorf("the terminal approver must say what it is on the record: %s", applied)
	}
}

type staticCred struct{}

func (staticCred) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// armBodyOf returns a session's arm line body for id that contains marker.
func armBodyOf(t *testing.T, path, id, marker string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		l, err := session.Parse([]byte(line))
		if err == nil && l.Source == session.SourceARM && guard.SameID(l.ID, id) && strings.Contains(string(l.Body), marker) {
			return string(l.Body)
		}
	}
	t.Fatalf("no arm line for %s with %q", id, marker)
	return ""
}

// cliARM plays ARM for remediate run: legacyftp, read and patched.
type cliARM struct {
	t       *testing.T
	mu      sync.Mutex
	body    string
	patches int
}

func (c *cliARM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != remFTP || r.URL.Query().Get("api-version") != "2024-01-01" {
		c.t.Errorf("%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		w.WriteHeader(http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		fmt.Fprint(w, c.body)
	case http.MethodPatch:
		c.patches++
		b, _ := io.ReadAll(r.Body)
		if string(b) != `{"properties":{"minimumTlsVersion":"TLS1_2","supportsHttpsTrafficOnly":true}}` {
			c.t.Errorf("PATCH body %s", b)
		}
		c.body = strings.Replace(strings.Replace(c.body, `"TLS1_0"`, `"TLS1_2"`, 1), `"supportsHttpsTrafficOnly":false`, `"supportsHttpsTrafficOnly":true`, 1)
		fmt.Fprint(w, c.body)
	default:
		c.t.Errorf("unexpected %s", r.Method)
	}
}

func TestRemediateVerbsHaveHelp(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"remediate", "remediate list", "remediate approve", "remediate deny", "remediate run"} {
		out, _, err := run(t, append(strings.Fields(verb), "--help")...)
		if err != nil || !strings.Contains(out, "Usage:") {
			t.Errorf("exportguard %s --help: %v\n%s", verb, err, out)
		}
	}
	if _, _, err := run(t, "remediate", "list", "--store", "memory:"); err == nil {
		t.Error("remediate list on an in-memory store must be refused: it holds nothing")
	}
	if _, _, err := run(t, "remediate", "list", "--store", "sqlite:"+filepath.Join(t.TempDir(), "none.db")); err == nil {
		t.Error("remediate list on a store that does not exist must be refused")
	}
	_ = remediate.Kind
}
