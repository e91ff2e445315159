package functions

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// fakeDashboard is the findings API with a dashboard.
type fakeDashboard struct {
	fakeAPI
	refresh []time.Duration
	err     error
}

func (f *fakeDashboard) DashboardPage(_ context.Context, refresh time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refresh = append(f.refresh, refresh)
	if f.err != nil {
		return "", f.err
	}
	return `<!doctype html><html><head><meta http-equiv="refresh" content="60"></head><body><span data-testid="open-count">2</span> open</body></html>`, nil
}

// callDashboard POSTs the invocation to the dashboard function, as the host
// does, and returns Outputs.res.
func callDashboard(t *testing.T, h http.Handler, env []byte) (status int, contentType string, body json.RawMessage) {
	t.Helper()
	a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/"+fnDashboard, env)))
	var res apiAnswer
	if err := json.Unmarshal(a.Outputs[bindRes], &res); err != nil {
		t.Fatalf("Outputs.res = %s: %v", a.Outputs[bindRes], err)
	}
	return res.StatusCode, res.Headers["Content-Type"], res.Body
}

func TestDashboardFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnDashboard)
	want := []binding{
		{Type: "httpTrigger", Name: bindReq, Direction: "in", AuthLevel: "anonymous", Methods: []string{"get"}, Route: "dashboard"},
		{Type: "http", Name: bindRes, Direction: "out"},
	}
	if diff := cmp.Diff(want, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

func TestDashboard(t *testing.T) {
	d := &fakeDashboard{fakeAPI: fakeAPI{findings: []guard.Finding{{ID: "dashboard", Status: guard.StatusOpen}}}}
	h, logs := newAPIHandler(t, d)
	p := clientPrincipal(oid, "alice.nguyen@contoso.com", RoleReader)

	status, ct, body := callDashboard(t, h, apiInvocation("GET", "dashboard", nil, p, ""))
	var page string
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatalf("body %s is not the page as a string: %v", body, err)
	}
	if status != http.StatusOK || ct != "text/html; charset=utf-8" || !strings.HasPrefix(page, "<!doctype html>") || !strings.Contains(page, `data-testid="open-count">2<`) {
		t.Errorf("dashboard: %d %q %.80s", status, ct, page)
	}
	if !cmp.Equal(d.refresh, []time.Duration{time.Minute}) {
		t.Errorf("the page was asked to refresh every %v, want once a minute", d.refresh)
	}

	// The same authentication as the API: no principal, no page.
	status, _, body = callDashboard(t, h, apiInvocation("GET", "dashboard", nil, "", ""))
	if status != http.StatusUnauthorized || strings.Contains(string(body), "open-count") {
		t.Errorf("without a principal: %d %s", status, body)
	}
	if len(d.refresh) != 1 {
		t.Error("the page was rendered for an unauthenticated caller")
	}
	if !strings.Contains(logs.String(), "without an authenticated principal") {
		t.Error("the refusal is not logged")
	}

	// Read-only.
	if status, _, _ := callDashboard(t, h, apiInvocation("POST", "dashboard", nil, p, `{}`)); status != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", status)
	}

	// A finding whose ID is "dashboard" is still a finding, under /findings/.
	res := callAPI(t, h, apiInvocation("GET", "findings/dashboard", map[string]string{"id": "dashboard"}, p, ""))
	if res.StatusCode != http.StatusOK || !strings.Contains(string(res.Body), `"id":"dashboard"`) {
		t.Errorf("GET /api/findings/dashboard: %d %s", res.StatusCode, res.Body)
	}
}

func TestDashboardFailures(t *testing.T) {
	p := clientPrincipal(oid, "alice.nguyen@contoso.com", RoleReader)
	// An API without a dashboard.
	h, _ := newAPIHandler(t, &fakeAPI{})
	if status, _, _ := callDashboard(t, h, apiInvocation("GET", "dashboard", nil, p, "")); status != http.StatusServiceUnavailable {
		t.Errorf("no dashboard: %d, want 503", status)
	}
	// A store that fails: 500, and nothing of the error in the answer.
	h, logs := newAPIHandler(t, &fakeDashboard{err: errStoreDown})
	status, _, body := callDashboard(t, h, apiInvocation("GET", "dashboard", nil, p, ""))
	if status != http.StatusInternalServerError || strings.Contains(string(body), "SECRETSIG") || strings.Contains(string(body), "cosmos.example.net") {
		t.Errorf("store down: %d %s", status, body)
	}
	if !strings.Contains(logs.String(), "api: dashboard") {
		t.Error("the failure is not logged")
	}
}
