package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
	"github.com/exportguard/exportguard/pkg/sqlite"
	"github.com/exportguard/exportguard/pkg/sqlite/sqlitetest"
)

// exportguard doctor, with local stores and settings only: no network but
// loopback.

// doctorApp is an App whose settings are env only (the machine running the
// tests does not change what they see) and whose clock stands at now.
func doctorApp(now time.Time) (*App, map[string]string) {
	env := map[string]string{}
	app := testApp()
	app.Getenv = func(name string) string { return env[name] }
	app.Now = func() time.Time { return now }
	return app, env
}

// doctorRun runs doctor as app and returns what it printed.
func doctorRun(t *testing.T, app *App, args ...string) (string, error) {
	t.Helper()
	out, stderr, err := runApp(t, app, append([]string{"doctor"}, args...)...)
	if stderr != "" {
		t.Logf("stderr: %s", stderr)
	}
	return out, err
}

// hasLine reports whether out has a line of this level and check containing all of parts.
func hasLine(out string, level doctorLevel, check string, parts ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != string(level) || !strings.HasPrefix(strings.TrimSpace(l[len(f[0]):]), check) {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A local set-up for func start that works: the settings file of the sample,
// filled in, and a store the sample session was replayed into.
func TestDoctorLocalSetupThatWorks(t *testing.T) {
	t.Parallel()
	app, env := doctorApp(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC))
	dir := t.TempDir()
	db := filepath.Join(dir, "exportguard.db")
	if _, stderr, err := run(t, "replay", "--store", "sqlite:"+db, "testdata/sessions/storage-replication.ndjson"); err != nil {
		t.Fatal(err, stderr)
	}
	settings := writeFile(t, filepath.Join(dir, "local.settings.json"), `{"IsEncrypted": false, "Values": {
		"FUNCTIONS_WORKER_RUNTIME": "custom", "AzureWebJobsStorage": "UseDevelopmentStorage=true",
		"ActivityLogEventHub__fullyQualifiedNamespace": "eh-guard.servicebus.windows.net",
		"ActivityLogEventHubName": "insights-activity-logs", "ActivityLogConsumerGroup": "exportguard",
		"EXPORTGUARD_STORE": "sqlite:`+db+`", "EXPORTGUARD_LOG_LEVEL": "info"}}`)

	out, err := doctorRun(t, app, "--settings", settings)
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, want := range []struct {
		level doctorLevel
		check string
		parts []string
	}{
		{docOK, "settings", []string{"FUNCTIONS_WORKER_RUNTIME is custom"}},
		{docOK, "settings", []string{"AzureWebJobsStorage is set"}},
		{docOK, "settings", []string{"ActivityLogEventHubName is insights-activity-logs"}},
		{docOK, "settings", []string{"ActivityLogEventHub__fullyQualifiedNamespace is eh-guard.servicebus.windows.net"}},
		{docOK, "policy", []string{"the built-in policy is valid", "AzureCloud", "dry-run"}},
		{docOK, "store", []string{db, "opened, answered a read and took a write"}},
		{docSkip, "identity", []string{"--subscription"}},
		{docWarn, "notify", []string{"no notification targets"}},
		// The last Activity Log message of the session, processed at its replay clock.
		{docOK, "last event", []string{"2026-11-02T10:31:47Z (1h28m ago)", "STORAGEACCOUNTS/EUDRBACKUP", "from eventhub"}},
		{docOK, "outbox", []string{"nothing pending"}},
	} {
		if !hasLine(out, want.level, want.check, want.parts...) {
			t.Errorf("no %s %s line with %q in:\n%s", want.level, want.check, want.parts, out)
		}
	}
	if !strings.HasSuffix(out, "0 check(s) failed, 1 warning(s)\n") {
		t.Errorf("the last line of:\n%s", out)
	}

	// The environment wins over the file, as with func start: a wrong runtime
	// there is a failure, said in words.
	env["FUNCTIONS_WORKER_RUNTIME"] = "dotnet-isolated"
	out, err = doctorRun(t, app, "--settings", settings)
	if err == nil || !hasLine(out, docFail, "settings", `FUNCTIONS_WORKER_RUNTIME is "dotnet-isolated"`, "set it to custom") {
		t.Errorf("err = %v:\n%s", err, out)
	}
}

// A deployment with everything wrong: each problem is one FAIL line in plain
// words, and the exit is non-zero.
func TestDoctorBrokenDeployment(t *testing.T) {
	t.Parallel()
	app, env := doctorApp(time.Now())
	env["WEBSITE_SITE_NAME"] = "func-exportguard" // inside an App Service
	env["AzureWebJobsStorage"] = "UseDevelopmentStorage=true"
	env["ActivityLogEventHub__fullyQualifiedNamespace"] = "<namespace>.servicebus.windows.net"
	env[envStore] = "postgres://db"
	env[envPolicy] = filepath.Join(t.TempDir(), "missing.yaml")
	env[envLogLevel] = "chatty"

	out, err := doctorRun(t, app)
	if err == nil || !strings.Contains(err.Error(), "check(s) failed") {
		t.Errorf("err = %v, want failed checks", err)
	}
	for _, want := range []struct {
		check string
		parts []string
	}{
		{"settings", []string{"FUNCTIONS_WORKER_RUNTIME is not set", "set it to custom"}},
		{"settings", []string{"UseDevelopmentStorage=true", "does not exist in Azure"}},
		{"settings", []string{"ActivityLogEventHubName is not set", "%ActivityLogEventHubName%"}},
		{"settings", []string{"ActivityLogConsumerGroup is not set"}},
		{"settings", []string{"placeholder"}},
		{"settings", []string{"EXPORTGUARD_LOG_LEVEL is \"chatty\""}},
		{"policy", []string{"missing.yaml does not load"}},
		{"store", []string{"unknown kind of store \"postgres\""}},
	} {
		if !hasLine(out, docFail, want.check, want.parts...) {
			t.Errorf("no FAIL %s line with %q in:\n%s", want.check, want.parts, out)
		}
	}
	for _, want := range []string{"SKIP  identity", "SKIP  notify", "SKIP  last event", "SKIP  outbox"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q line in:\n%s", want, out)
		}
	}
}

// Notification targets are named, their URLs never shown; problems are said.
func TestDoctorNotifyTargetsAndOutbox(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 14, 0, 0, 0, time.UTC)
	app, env := doctorApp(now)
	dir := t.TempDir()
	pol := writeFile(t, filepath.Join(dir, "policy.yaml"), `cloud: AzureUSGovernment
allowedRegions: [usgovvirginia, usgovtexas]
rules:
  residency.replication: {mode: remediate}
remediation: {mode: approve}
notify:
  teams: {url: env:EXPORTGUARD_TEAMS_URL}
  slack: {url: env:EXPORTGUARD_SLACK_URL}
  webhook: {url: "https://siem.contoso.us/hook?sig=LITERALSECRET"}
`)
	const secret = "https://contoso.webhook.office.us/workflows/abc?sig=TEAMSSECRET"
	env["EXPORTGUARD_TEAMS_URL"] = secret

	// A store with a delivery given up on, one overdue, and poison.
	db := filepath.Join(dir, "x.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []guard.OutboxItem{
		{ID: "a", Partition: "/subscriptions/s", Kind: "notify.teams", Payload: json.RawMessage(`{}`), CreatedAt: now.Add(-3 * time.Hour), NextAttempt: now.Add(-3 * time.Hour)},
		{ID: "b", Partition: "/subscriptions/s", Kind: "notify.slack", Payload: json.RawMessage(`{}`), CreatedAt: now.Add(-2 * time.Hour), NextAttempt: now.Add(-2 * time.Hour)},
	} {
		if err := st.Enqueue(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Fail(ctx, "/subscriptions/s", "a", "teams answered 404 Not Found"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutPoison(ctx, guard.PoisonRecord{ID: "p", Source: "eventhub", Reason: "activity log record 0: time \"yesterday\" is not a time", Body: "{}", At: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, err := doctorRun(t, app, "--policy", pol, "--store", "sqlite:"+db)
	if err == nil {
		t.Error("doctor passed with a target whose URL is not set")
	}
	if strings.Contains(out, "TEAMSSECRET") || strings.Contains(out, "LITERALSECRET") || strings.Contains(out, "office.us") {
		t.Errorf("doctor showed a webhook URL:\n%s", out)
	}
	for _, want := range []struct {
		level doctorLevel
		check string
		parts []string
	}{
		{docOK, "policy", []string{"AzureUSGovernment", "remediation approve"}},
		{docWarn, "policy", []string{"scope.subscriptions is empty"}},
		{docOK, "notify", []string{"teams: configured (URL from EXPORTGUARD_TEAMS_URL)"}},
		{docFail, "notify", []string{"slack", "EXPORTGUARD_SLACK_URL is not set"}},
		{docWarn, "notify", []string{"webhook", "written in the policy file"}},
		{docWarn, "notify", []string{"EXPORTGUARD_PUBLIC_URL is not set"}},
		{docWarn, "last event", []string{"no event processed yet"}},
		{docWarn, "outbox", []string{"1 pending, the oldest due for 2h00m"}},
		{docWarn, "outbox", []string{"1 given up on", "notify.teams", "teams answered 404 Not Found"}},
		{docWarn, "outbox", []string{"1 input(s)", "kept as poison", "is not a time"}},
	} {
		if !hasLine(out, want.level, want.check, want.parts...) {
			t.Errorf("no %s %s line with %q in:\n%s", want.level, want.check, want.parts, out)
		}
	}
}

// A store file that is not there is not created by looking at it.
func TestDoctorDoesNotCreateTheStore(t *testing.T) {
	t.Parallel()
	app, _ := doctorApp(time.Now())
	db := filepath.Join(t.TempDir(), "none.db")
	out, err := doctorRun(t, app, "--store", "sqlite:"+db)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !hasLine(out, docWarn, "store", "does not exist yet") || !hasLine(out, docSkip, "last event") {
		t.Errorf("out:\n%s", out)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("doctor created the store")
	}
	// Without --settings or --deployment, what only the host needs is not asked for.
	if !hasLine(out, docSkip, "settings", "FUNCTIONS_WORKER_RUNTIME not checked") ||
		!hasLine(out, docSkip, "settings", "ActivityLogEventHub__fullyQualifiedNamespace not checked") {
		t.Errorf("out:\n%s", out)
	}
}

// A store that opens but is corrupt, or reads but cannot write, fails the
// store check with the reason, as the health function would answer 503; what
// can still be read of a store that cannot write is still reported.
func TestDoctorBrokenStore(t *testing.T) {
	t.Parallel()
	app, _ := doctorApp(time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC))
	for _, tc := range []struct {
		name   string
		broken func(t *testing.T) string // returns the store file
		want   []string                  // in the FAIL store line
		reads  bool                      // the store is still read (last event, outbox)
	}{
		{"corrupt", func(t *testing.T) string {
			path := writtenStoreFile(t, t.TempDir(), 3000)
			sqlitetest.Corrupt(t, path, 64<<10, 1)
			return path
		}, []string{"cannot be opened", "the file is corrupt (PRAGMA quick_check: "}, false},
		{"read-only", func(t *testing.T) string {
			path := writtenStoreFile(t, t.TempDir(), 10)
			sqlitetest.ReadOnly(t, path)
			return path
		}, []string{"answered a read, but cannot take a write", "readonly database"}, true},
		{"on a full disk, beside serve", func(t *testing.T) string {
			dir := sqlitetest.SmallDisk(t, 8<<20)
			path := filepath.Join(dir, "exportguard.db")
			sqlitetest.Fill(t, openServed(t, path), 10) // and kept open, as serve keeps it
			sqlitetest.FillDisk(t, dir)
			return path
		}, []string{"answered a read, but cannot take a write", "the disk is full"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.broken(t)
			out, err := doctorRun(t, app, "--store", "sqlite:"+path)
			if err == nil {
				t.Errorf("doctor passed a %s store:\n%s", tc.name, out)
			}
			if !hasLine(out, docFail, "store", append([]string{path}, tc.want...)...) {
				t.Errorf("no FAIL store line with %q in:\n%s", tc.want, out)
			}
			if got := hasLine(out, docOK, "outbox", "nothing pending"); got != tc.reads {
				t.Errorf("outbox read: %v, want %v:\n%s", got, tc.reads, out)
			}
		})
	}
}

// fakeCredential hands out a token without signing anyone in.
type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "doctor-test-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// The identity check reads GET /subscriptions/{id} through azcore's ARM
// pipeline, here from a loopback TLS server.
func TestDoctorIdentity(t *testing.T) {
	t.Parallel()
	app, _ := doctorApp(time.Now())
	const sub = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	status := http.StatusOK
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/subscriptions/"+sub || r.URL.Query().Get("api-version") != resourcemanager.SubscriptionAPIVersion ||
			r.Header.Get("Authorization") != "Bearer doctor-test-token" {
			t.Errorf("ARM got %s %s (Authorization %q)", r.Method, r.URL, r.Header.Get("Authorization"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		switch status {
		case http.StatusOK:
			w.Write([]byte(`{"id":"/subscriptions/` + sub + `","subscriptionId":"` + sub + `","displayName":"Engineering","state":"Enabled"}`))
		default:
			w.Write([]byte(`{"error":{"code":"AuthorizationFailed","message":"The client does not have authorization"}}`))
		}
	}))
	defer srv.Close()
	// ARM on the loopback TLS server, with a fake credential.
	app.NewARM = func(cloudName string, o resourcemanager.Options) (*resourcemanager.Client, error) {
		opts := o.ARM.ClientOptions
		rm := opts.Cloud.Services[cloud.ResourceManager]
		rm.Endpoint = srv.URL
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: opts.Cloud.ActiveDirectoryAuthorityHost,
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: rm}}
		opts.Transport = srv.Client()
		return resourcemanager.NewDefault(cloudName, resourcemanager.Options{Credential: fakeCredential{}, ARM: &arm.ClientOptions{ClientOptions: opts}})
	}
	store := "sqlite:" + filepath.Join(t.TempDir(), "none.db")

	out, err := doctorRun(t, app, "--store", store, "--subscription", sub)
	if err != nil || !hasLine(out, docOK, "identity", "reads subscription "+sub+" (Engineering) in AzureCloud") {
		t.Errorf("err = %v:\n%s", err, out)
	}
	status = http.StatusForbidden
	out, err = doctorRun(t, app, "--store", store, "--subscription", sub)
	if err == nil || !hasLine(out, docFail, "identity", "may not read subscription", "403 AuthorizationFailed", "Reader role") {
		t.Errorf("err = %v:\n%s", err, out)
	}
	out, err = doctorRun(t, app, "--store", store, "--subscription", "not-a-guid")
	if err == nil || !hasLine(out, docFail, "identity", "is not a subscription ID") {
		t.Errorf("err = %v:\n%s", err, out)
	}
}
