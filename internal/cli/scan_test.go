package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/policyfile"
	"github.com/exportguard/exportguard/pkg/resourcegraph"
	"github.com/exportguard/exportguard/pkg/resourcegraph/rgtest"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/resourcemanager/armtest"
)

// Scans run against rgtest: a local Resource Graph and ARM over one estate, on
// loopback HTTPS, the guard's clients built as in Azure and pointed at it.

var scanNow = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

const (
	scanSubA = "0a000000-0000-4000-8000-00000000000a"
	scanSubB = "0b000000-0000-4000-8000-00000000000b"
	scanSubC = "0c000000-0000-4000-8000-00000000000c"
)

// scanAccount is a storage account's ID in a subscription.
func scanAccount(sub, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/rg-estate/providers/Microsoft.Storage/storageAccounts/" + name
}

// outOfUS is a storage account replicating to West Europe (residency.replication),
// its data encrypted with a customer-managed key.
func outOfUS(id string) map[string]any {
	return withCMK(armtest.StorageAccount(id, "eastus", "Standard_RAGRS", "westeurope"))
}

// inUS is a compliant storage account: locally redundant, in East US, its
// data encrypted with a customer-managed key.
func inUS(id string) map[string]any {
	b := withCMK(armtest.StorageAccount(id, "eastus", "Standard_LRS", ""))
	delete(b["properties"].(map[string]any), "secondaryLocation")
	return b
}

func withCMK(b map[string]any) map[string]any {
	b["properties"].(map[string]any)["encryption"] = map[string]any{"keySource": "Microsoft.Keyvault",
		"keyvaultproperties": map[string]any{"keyname": "cmk", "keyvaulturi": "https://kv-estate.vault.azure.net/"}}
	return b
}

// scanRun is what one `exportguard scan` said.
type scanRun struct {
	stdout, stderr string
	err            error
}

// runScanCommand runs `exportguard scan` against srv with the store at path.
func runScanCommand(t *testing.T, srv *rgtest.Server, store string, args ...string) scanRun {
	t.Helper()
	app := testApp()
	app.Now = func() time.Time { return scanNow }
	app.NewARM = func(cloudName string, _ resourcemanager.Options) (*resourcemanager.Client, error) {
		return resourcemanager.NewDefault(cloudName, resourcemanager.Options{Credential: rgtest.Credential(), ARM: srv.ClientOptions()})
	}
	stdout, stderr, err := runApp(t, app, append([]string{"scan", "--store", store}, args...)...)
	if errs := srv.Errors(); len(errs) > 0 {
		t.Errorf("the local Resource Graph / ARM saw wrong requests: %q", errs)
	}
	return scanRun{stdout, stderr, err}
}

// findingOf returns the finding of a rule on a resource in the store at url.
func findingOf(t *testing.T, store, rule, id string) *guard.Finding {
	t.Helper()
	st, err := testApp().openStore(t.Context(), store)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs, err := st.ListFindings(t.Context(), guard.FindingFilter{Rule: rule, ResourceID: id})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 {
		t.Fatalf("%d findings of %s on %s, want 1", len(fs), rule, id)
	}
	return &fs[0]
}

// TestScanJudgesEveryResource: 10,000 storage accounts in 3 subscriptions, one
// in ten replicating out of the United States. Every one is judged; Resource
// Graph is asked a page of 1,000 rows at a time (10,000 rows and the 3
// subscriptions' own rows: 11 pages of the Resources table, and one request
// to AuthorizationResources when a rule judges role assignments); ARM is read
// for nothing but each subscription's diagnostic settings: a first scan
// confirms no resolution.
func TestScanJudgesEveryResource(t *testing.T) {
	t.Parallel()
	const perSub = 3334 // 3,334 + 3,333 + 3,333
	tests := []struct {
		name         string
		policy       string
		wantRequests int
	}{
		{"data rules only", "rules:\n  access.unscreened-principal: {mode: off}\n", 11},
		{"default policy (role assignments too)", "", 12},
	}
	srv := rgtest.New()
	defer srv.Close()
	outOf := 0
	for k := range 10_000 {
		sub := []string{scanSubA, scanSubB, scanSubC}[k/perSub]
		id := scanAccount(sub, fmt.Sprintf("st%05d", k))
		if k%10 == 0 {
			srv.Put(outOfUS(id))
			outOf++
		} else {
			srv.Put(inUS(id))
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pol := filepath.Join(dir, "policy.yaml")
			if err := os.WriteFile(pol, []byte(tt.policy), 0o600); err != nil {
				t.Fatal(err)
			}
			store := "sqlite:" + filepath.Join(dir, "scan.db")
			requests, reads := srv.GraphRequests(), srv.ARMReads()

			run := runScanCommand(t, srv, store, "--policy", pol, "--format", "json",
				"--subscription", scanSubA, "--subscription", strings.ToUpper(scanSubB), "--subscription", scanSubC)

			if run.err != nil {
				t.Fatalf("scan: %v\n%s", run.err, run.stderr)
			}
			st, err := testApp().openStore(t.Context(), store)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			known, err := st.ListResources(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			accounts := 0
			for _, r := range known {
				if strings.EqualFold(r.Type, "Microsoft.Storage/storageAccounts") {
					accounts++
				}
			}
			open, err := st.ListFindings(t.Context(), guard.FindingFilter{Rule: guard.RuleResidencyReplication, Status: guard.StatusOpen})
			if err != nil {
				t.Fatal(err)
			}
			if accounts != 10_000 || len(open) != outOf {
				t.Errorf("%d accounts judged and kept, %d residency.replication findings open; want 10000 and %d", accounts, len(open), outOf)
			}
			if lines := strings.Count(run.stdout, "\n"); lines != outOf {
				t.Errorf("stdout holds %d findings, want %d", lines, outOf)
			}
			if got := srv.GraphRequests() - requests; got != tt.wantRequests {
				t.Errorf("%d Resource Graph requests, want %d", got, tt.wantRequests)
			}
			// No ARM read but the 3 subscriptions' diagnostic settings: no
			// row suggested a resolution, so none was confirmed.
			if got := srv.ARMReads() - reads; got != 3 {
				t.Errorf("%d ARM reads, want 3 (the diagnostic settings)", got)
			}
			for _, want := range []string{"scan: 3 subscription(s), 10000 resource(s) judged", fmt.Sprintf("%d open", outOf),
				fmt.Sprintf("Resource Graph: %d request(s), 0 throttled", tt.wantRequests), "ARM: 3 read(s), 0 throttled (429): 0 confirming"} {
				if !strings.Contains(run.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, run.stderr)
				}
			}
		})
	}
}

// TestScanConfirmsWithARM: a row that suggests a resolution (the account no
// longer replicates out) resolves the finding only when ARM says so, and a
// resource the store knows that Resource Graph no longer lists is read from
// ARM before anything closes: 404 resolves it as deleted, 200 is judged. In a
// subscription Resource Graph did not show, or after a scan that failed,
// nothing is read and nothing closes.
func TestScanConfirmsWithARM(t *testing.T) {
	t.Parallel()
	x := scanAccount(scanSubA, "stx")     // the account the case is about
	other := scanAccount(scanSubA, "sty") // a compliant one beside it
	tests := []struct {
		name        string
		then        func(srv *rgtest.Server) // between the baseline and the second scan
		wantStatus  guard.Status
		wantDeleted bool // the finding's evidence says the resource was deleted
		wantReads   int  // ARM reads of x in the second scan
		wantErr     bool
		wantStderr  string
	}{
		{name: "compliant row, ARM agrees: resolved", wantStatus: guard.StatusResolved, wantReads: 1,
			then: func(srv *rgtest.Server) { srv.Put(inUS(x)) }},
		{name: "compliant row, ARM still replicates out: open", wantStatus: guard.StatusOpen, wantReads: 1,
			then: func(srv *rgtest.Server) { srv.PutGraph(inUS(x)) }},
		{name: "no longer listed, ARM 404: resolved as deleted", wantStatus: guard.StatusResolved, wantDeleted: true, wantReads: 1,
			then: func(srv *rgtest.Server) { srv.DeleteGraph(x); srv.DeleteARM(x) }},
		{name: "no longer listed, ARM 200: judged, open", wantStatus: guard.StatusOpen, wantReads: 1,
			then: func(srv *rgtest.Server) { srv.DeleteGraph(x) }},
		{name: "no longer listed, ARM 200 compliant: resolved on ARM's state", wantStatus: guard.StatusResolved, wantReads: 1,
			then: func(srv *rgtest.Server) { srv.DeleteGraph(x); srv.PutARM(inUS(x)) }},
		{name: "subscription not shown: nothing closed", wantStatus: guard.StatusOpen, wantReads: 0,
			wantStderr: "not shown by Resource Graph (no read access?), not judged, nothing closed: " + scanSubA,
			then:       func(srv *rgtest.Server) { srv.Hide(scanSubA); srv.DeleteGraph(x); srv.DeleteARM(x) }},
		{name: "scan failed: nothing closed", wantStatus: guard.StatusOpen, wantReads: 0, wantErr: true,
			wantStderr: "nothing taken as gone: the scan did not finish",
			then: func(srv *rgtest.Server) {
				srv.DeleteGraph(x)
				srv.DeleteARM(x)
				srv.FailGraph(srv.GraphRequests()+1, http.StatusBadRequest)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := rgtest.New()
			defer srv.Close()
			srv.Put(outOfUS(x))
			srv.Put(inUS(other))
			store := "sqlite:" + filepath.Join(t.TempDir(), "scan.db")
			args := []string{"--subscription", scanSubA, "--subscription", scanSubB}
			if run := runScanCommand(t, srv, store, args...); run.err != nil {
				t.Fatalf("baseline scan: %v\n%s", run.err, run.stderr)
			}
			if f := findingOf(t, store, guard.RuleResidencyReplication, x); f.Status != guard.StatusOpen || srv.ReadsOf(x) != 0 {
				t.Fatalf("baseline: finding %s after %d ARM reads, want open after none", f.Status, srv.ReadsOf(x))
			}
			tt.then(srv)

			run := runScanCommand(t, srv, store, args...)

			if (run.err != nil) != tt.wantErr {
				t.Errorf("scan error %v, want one: %v\n%s", run.err, tt.wantErr, run.stderr)
			}
			f := findingOf(t, store, guard.RuleResidencyReplication, x)
			if deleted := strings.Contains(fmt.Sprint(f.Evidence["resolution"]), "The resource was deleted."); f.Status != tt.wantStatus || deleted != tt.wantDeleted {
				t.Errorf("finding %s (evidence %v), want %s, deleted: %v", f.Status, f.Evidence, tt.wantStatus, tt.wantDeleted)
			}
			if got := srv.ReadsOf(x); got != tt.wantReads {
				t.Errorf("%d ARM reads of the account, want %d", got, tt.wantReads)
			}
			if got := srv.ReadsOf(other); got != 0 {
				t.Errorf("%d ARM reads of the compliant account beside it, want none", got)
			}
			if !strings.Contains(run.stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, run.stderr)
			}
		})
	}
}

// TestScanRefusesNoSubscription: neither --subscription nor the policy's
// scope names one; or one named is outside the scope.
func TestScanRefusesNoSubscription(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	dir := t.TempDir()
	scoped := filepath.Join(dir, "scoped.yaml")
	if err := os.WriteFile(scoped, []byte("scope:\n  subscriptions: ["+scanSubA+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subscription", nil, "no subscription to scan: give --subscription ID"},
		{"not a GUID", []string{"--subscription", "prod"}, `subscription "prod": not a subscription ID`},
		{"outside the scope", []string{"--policy", scoped, "--subscription", scanSubB}, "outside the policy's scope.subscriptions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := runScanCommand(t, srv, "memory:", tt.args...)
			if run.err == nil || !strings.Contains(run.err.Error(), tt.want) {
				t.Errorf("error %v, want %q", run.err, tt.want)
			}
			if srv.GraphRequests() != 0 || run.stdout != "" {
				t.Errorf("%d Resource Graph requests and stdout %q, want none", srv.GraphRequests(), run.stdout)
			}
		})
	}
}

// TestScanGolden: `exportguard scan --format json` of a small estate, the
// policy's scope as the subscriptions: every finding of the scanned
// subscriptions, one per line, sorted.
func TestScanGolden(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	srv.Put(outOfUS(scanAccount(scanSubA, "streplicated")))
	srv.Put(inUS(scanAccount(scanSubA, "stcompliant")))
	srv.Put(map[string]any{"id": "/subscriptions/" + scanSubA + "/resourceGroups/rg-estate/providers/Microsoft.Compute/disks/disk-pmk",
		"name": "disk-pmk", "type": "Microsoft.Compute/disks", "location": "eastus",
		"properties": map[string]any{"encryption": map[string]any{"type": "EncryptionAtRestWithPlatformKey"}, "diskSizeGB": 128}})
	srv.Put(map[string]any{"id": "/subscriptions/" + scanSubB + "/resourceGroups/rg-eu/providers/Microsoft.Network/virtualNetworks/vnet-eu",
		"name": "vnet-eu", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
		"properties": map[string]any{"addressSpace": map[string]any{"addressPrefixes": []any{"10.0.0.0/16"}}}})
	srv.SetSettings(scanSubB, map[string]any{"value": []any{}}) // nothing exports the Activity Log
	// A subscription outside the scan: its findings are not printed.
	srv.Put(outOfUS(scanAccount(scanSubC, "stelsewhere")))
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("scope:\n  subscriptions: ["+scanSubA+", "+scanSubB+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	run := runScanCommand(t, srv, "memory:", "--policy", pol, "--format", "json")

	if run.err != nil {
		t.Fatalf("scan: %v\n%s", run.err, run.stderr)
	}
	checkGolden(t, "scan-small.json", []byte(run.stdout))
}

// TestReconcileTimerScansTheScope: the host's timer invocation of the
// reconcile function, through the handler's HTTP surface, scans the policy's
// scope through Resource Graph and judges every row.
func TestReconcileTimerScansTheScope(t *testing.T) {
	t.Parallel()
	srv := rgtest.New()
	defer srv.Close()
	x := scanAccount(scanSubA, "stx")
	srv.Put(outOfUS(x))
	srv.Put(inUS(scanAccount(scanSubB, "sty")))
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("scope:\n  subscriptions: ["+scanSubA+", "+scanSubB+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, st := reconcileHandler(t, srv, pol)
	body, err := os.ReadFile("pkg/functions/testdata/sweep-timer.json") // the host's timer body
	if err != nil {
		t.Fatal(err)
	}
	body = bytes.ReplaceAll(body, []byte(`"MethodName":"sweep"`), []byte(`"MethodName":"reconcile"`))
	req := httptest.NewRequest(http.MethodPost, "/reconcile", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", "4c1d2e3f-reconcile")
	w := httptest.NewRecorder()

	h.ServeHTTP(w, req)

	if w.Code != http.StatusOK {
		t.Fatalf("reconcile answered %d: %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "reconcile: ") || !strings.Contains(w.Body.String(), "1 transitions") {
		t.Errorf("answer %s, want the reconcile's summary line with the finding opened", w.Body)
	}
	fs, err := st.ListFindings(t.Context(), guard.FindingFilter{Status: guard.StatusOpen})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || !guard.SameID(fs[0].ResourceID, x) || fs[0].Rule != guard.RuleResidencyReplication {
		t.Errorf("open findings %+v, want residency.replication on %s", fs, x)
	}
	if got := srv.GraphRequests(); got != 2 { // Resources, AuthorizationResources
		t.Errorf("%d Resource Graph requests, want 2", got)
	}
	if got := srv.ARMReads(); got != 2 { // each subscription's diagnostic settings
		t.Errorf("%d ARM reads, want 2", got)
	}
}

// TestReconcileLimitUnderFunctionTimeout: the reconcile stops on its own
// before the host kills it.
func TestReconcileLimitUnderFunctionTimeout(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("host.json")
	if err != nil {
		t.Fatal(err)
	}
	var h, m, s int
	i := bytes.Index(raw, []byte(`"functionTimeout": "`))
	if i < 0 {
		t.Fatal("host.json sets no functionTimeout")
	}
	if _, err := fmt.Sscanf(string(raw[i+len(`"functionTimeout": "`):]), "%d:%d:%d", &h, &m, &s); err != nil {
		t.Fatal(err)
	}
	timeout := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second
	if reconcileLimit >= timeout {
		t.Errorf("reconcileLimit %s, host.json's functionTimeout %s: the host would kill the reconcile first", reconcileLimit, timeout)
	}
}

// reconcileHandler is serve's handler with the reconcile wired to srv.
func reconcileHandler(t *testing.T, srv *rgtest.Server, policyPath string) (http.Handler, guard.Store) {
	t.Helper()
	h, st, err := newReconcileHandler(context.Background(), srv, policyPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return h, st
}

// newReconcileHandler builds serve's handler as serve does, its ARM and
// Resource Graph clients pointed at srv.
func newReconcileHandler(ctx context.Context, srv *rgtest.Server, policyPath string) (http.Handler, guard.Store, error) {
	p, err := policyfile.Load(policyPath)
	if err != nil {
		return nil, nil, err
	}
	reader, err := resourcemanager.New(rgtest.Credential(), srv.ClientOptions())
	if err != nil {
		return nil, nil, err
	}
	log := slog.New(slog.DiscardHandler)
	graph, err := resourcegraph.New(rgtest.Credential(), resourcegraph.Options{ARM: srv.ClientOptions(), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	st, err := testApp().openStore(ctx, "memory:")
	if err != nil {
		return nil, nil, err
	}
	pl, err := testApp().newPipeline(st, reader, p, log)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	h := functions.NewHandler(functions.Options{Ingester: withReconcile(testApp().servedIngester(pl, st), graph, log),
		Now: func() time.Time { return scanNow }, Logger: log})
	return h, st, nil
}

// checkGolden compares got with testdata/golden/name (-update writes it).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata/golden", name)
	checkFindingLines(t, string(got))
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}
