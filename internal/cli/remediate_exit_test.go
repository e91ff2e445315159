package cli

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// remediate run exits 1 when a plan failed (issue 18: it said "1 failed"
// and exited 0, so a pipeline never saw it): ARM refuses the approved plan.
func TestRemediateRunFailsWhenAPlanFailed(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "approve.db")
	st := openSQLite(t, db)
	replayInProcess(t, st, remApprove, remSession, true)
	st.Close()

	approvedAt := time.Date(2026, 11, 18, 10, 5, 0, 0, time.UTC)
	clock := approvedAt
	app := testApp()
	app.Now = func() time.Time { return clock }
	store := "sqlite:" + db
	ftp := guard.FindingID(guard.RuleTransitTLS, remFTP, "")
	if out, _, err := runApp(t, app, "remediate", "approve", ftp, "--reason", "CHG-2212", "--store", store); err != nil {
		t.Fatalf("remediate approve: %v\n%s", err, out)
	}
	// ARM shows legacyftp as recorded and refuses the change to it.
	body := armBodyOf(t, remSession, remFTP, "TLS1_0")
	srvARM := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(body))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"code":"InvalidRequest","message":"the property cannot be changed"}}`))
	}))
	defer srvARM.Close()
	app.NewARM = func(string, resourcemanager.Options) (*resourcemanager.Client, error) {
		conf := cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srvARM.URL, Audience: "https://management.core.windows.net/"}}}
		return resourcemanager.New(staticCred{}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{Cloud: conf, Transport: srvARM.Client()}})
	}
	clock = approvedAt.Add(10 * time.Minute)
	out, _, err := runApp(t, app, "remediate", "run", "--store", store, "--policy", remApprove)
	if err == nil || exitCode(err) != ExitFailed || !strings.Contains(out, "1 failed") {
		t.Fatalf("remediate run with ARM refusing: err %v (exit %d), want exit 1 after \"1 failed\"\n%s", err, exitCode(err), out)
	}
}
