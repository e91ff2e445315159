package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// fakeAPI is an Ingester that also serves the findings API.
type fakeAPI struct {
	fakeIngester
	mu        sync.Mutex
	findings  []guard.Finding
	filters   []guard.FindingFilter
	decisions []string // "approve|deny id principal-oid principal-name reason"
	decideErr error
}

func (f *fakeAPI) ListFindings(_ context.Context, ff guard.FindingFilter) ([]guard.Finding, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, ff)
	var out []guard.Finding
	for _, x := range f.findings {
		if (ff.Status == "" || x.Status == ff.Status) && (ff.Rule == "" || x.Rule == ff.Rule) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (f *fakeAPI) GetFinding(_ context.Context, id string) (*guard.Finding, error) {
	for _, x := range f.findings {
		if x.ID == id {
			return &x, nil
		}
	}
	return nil, fmt.Errorf("finding %s: %w", id, guard.ErrNotFound)
}

func (f *fakeAPI) RemediationPlans(_ context.Context, id string) (any, error) {
	return []map[string]string{{"state": "awaiting-approval", "findingId": id}}, nil
}

func (f *fakeAPI) decide(verb, id string, who Principal, reason string) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decideErr != nil {
		return nil, f.decideErr
	}
	f.decisions = append(f.decisions, strings.Join([]string{verb, id, who.ObjectID, who.Name, who.IdentityProvider, reason}, "|"))
	return map[string]string{"findingId": id}, nil
}

func (f *fakeAPI) Approve(_ context.Context, id string, who Principal, reason string) (any, error) {
	return f.decide("approve", id, who, reason)
}

func (f *fakeAPI) Deny(_ context.Context, id string, who Principal, reason string) (any, error) {
	return f.decide("deny", id, who, reason)
}

// tenant is the Entra tenant of the test principals.
const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"

// clientPrincipal is X-MS-CLIENT-PRINCIPAL as App Service authentication writes
// it for an Entra ID user (auth_typ aad; claim names as its default mapping,
// app roles under role_typ), holding the given app roles.
func clientPrincipal(oid, upn string, roles ...string) string {
	claims := []map[string]string{
		{"typ": "aud", "val": "api://exportguard"},
		{"typ": "http://schemas.microsoft.com/identity/claims/tenantid", "val": tenant},
		{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
		{"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "val": upn},
		{"typ": "name", "val": "Alice Nguyen"},
		{"typ": "preferred_username", "val": upn},
	}
	if oid == "" {
		claims = slices.Delete(claims, 2, 3)
	}
	for _, r := range roles {
		claims = append(claims, map[string]string{"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": r})
	}
	return encodePrincipal(map[string]any{"auth_typ": "aad", "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
		"role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "claims": claims})
}

func encodePrincipal(cp map[string]any) string {
	b, _ := json.Marshal(cp)
	return base64.StdEncoding.EncodeToString(b)
}

// newAPIHandler is the handler as serve builds it in Azure: App Service
// authentication on, principals of one tenant.
func newAPIHandler(t testing.TB, ing Ingester) (http.Handler, *bytes.Buffer) {
	return newTestHandler(t, ing, func(o *Options) { o.APIAuth = APIAuth{AppServiceAuth: true, TenantID: tenant} })
}

// apiInvocation is the envelope the host POSTs to /api for an httpTrigger
// request (research note §3.1): Query an object, Headers name → values, Params
// the route values, Body the request body as a string.
func apiInvocation(method, path string, params map[string]string, principal, body string) []byte {
	u := "https://func-exportguard.azurewebsites.net/api/" + path
	query := map[string]string{}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		for _, kv := range strings.Split(path[i+1:], "&") {
			k, v, _ := strings.Cut(kv, "=")
			query[k] = v
		}
	}
	headers := map[string][]string{"Accept": {"application/json"}, "Host": {"func-exportguard.azurewebsites.net"}}
	if principal != "" {
		headers["X-MS-CLIENT-PRINCIPAL"] = []string{principal}
		headers["X-MS-CLIENT-PRINCIPAL-IDP"] = []string{"aad"}
		headers["X-MS-CLIENT-PRINCIPAL-NAME"] = []string{"alice.nguyen@contoso.com"}
	}
	req := map[string]any{"Url": u, "Method": method, "Query": query, "Headers": headers, "Params": params,
		"Identities": []map[string]any{{"AuthenticationType": nil, "IsAuthenticated": false, "Claims": []any{}}}}
	if body != "" {
		req["Body"] = body
		headers["Content-Type"] = []string{"application/json"}
	}
	b, _ := json.Marshal(map[string]any{"Data": map[string]any{"req": req},
		"Metadata": map[string]any{"Query": query, "sys": map[string]string{"MethodName": "api", "UtcNow": "2026-11-20T14:07:30.5512907Z"}}})
	return b
}

type apiAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
}

func callAPI(t *testing.T, h http.Handler, env []byte) apiAnswer {
	t.Helper()
	a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/api", env)))
	var res apiAnswer
	if err := json.Unmarshal(a.Outputs["res"], &res); err != nil {
		t.Fatalf("Outputs.res = %s: %v", a.Outputs["res"], err)
	}
	if res.Headers["Content-Type"] != "application/json" {
		t.Errorf("res headers %v", res.Headers)
	}
	if len(res.Body) == 0 || (res.Body[0] != '{' && res.Body[0] != '[') {
		t.Errorf("res body %s is not a JSON object or array", res.Body)
	}
	return res
}

const oid = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

func TestAPIFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnAPI)
	want := []binding{
		{Type: "httpTrigger", Name: bindReq, Direction: "in", AuthLevel: "anonymous", Methods: []string{"get", "post"}, Route: "findings/{id?}/{action?}"},
		{Type: "http", Name: bindRes, Direction: "out"},
	}
	if diff := cmp.Diff(want, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

func TestAPIRefusesWithoutAPrincipal(t *testing.T) {
	api := &fakeAPI{findings: []guard.Finding{{ID: "f1", Status: guard.StatusOpen}}}
	h, logs := newAPIHandler(t, api)
	for _, tc := range []struct{ name, method, path, principal, body string }{
		{"list without header", "GET", "findings", "", ""},
		{"approve without header", "POST", "findings/f1/approve", "", `{"reason":"x"}`},
		{"not base64", "GET", "findings", "%%%not-base64%%%", ""},
		{"not JSON", "GET", "findings", base64.StdEncoding.EncodeToString([]byte("hello")), ""},
		{"no one named", "GET", "findings", base64.StdEncoding.EncodeToString([]byte(`{"auth_typ":"aad","claims":[{"typ":"aud","val":"x"}]}`)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := map[string]string{}
			parts := strings.Split(tc.path, "/")
			if len(parts) > 1 {
				params["id"] = parts[1]
			}
			if len(parts) > 2 {
				params["action"] = parts[2]
			}
			env := apiInvocation(tc.method, tc.path, params, tc.principal, tc.body)
			// The other principal headers do not make up for X-MS-CLIENT-PRINCIPAL.
			env = []byte(strings.Replace(string(env), `,"X-MS-CLIENT-PRINCIPAL-NAME":["alice.nguyen@contoso.com"]`, "", 1))
			res := callAPI(t, h, env)
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", res.StatusCode)
			}
		})
	}
	if len(api.decisions) != 0 {
		t.Errorf("decisions made without a principal: %v", api.decisions)
	}
	if !strings.Contains(logs.String(), "without an authenticated principal") {
		t.Error("refusals are not logged")
	}
}

func TestAPIListsAndGetsFindings(t *testing.T) {
	api := &fakeAPI{findings: []guard.Finding{
		{ID: "f1", Rule: guard.RuleResidencyReplication, Status: guard.StatusOpen, SubscriptionID: "AAAA", ResourceID: "/subscriptions/aaaa/x"},
		{ID: "f2", Rule: guard.RuleTransitTLS, Status: guard.StatusOpen, SubscriptionID: "bbbb", ResourceID: "/subscriptions/bbbb/y"},
		{ID: "f3", Rule: guard.RuleResidencyReplication, Status: guard.StatusResolved, SubscriptionID: "aaaa", ResourceID: "/subscriptions/aaaa/z"},
	}}
	h, _ := newAPIHandler(t, api)
	p := clientPrincipal(oid, "alice.nguyen@contoso.com", RoleReader)

	res := callAPI(t, h, apiInvocation("GET", "findings?status=open&rule=residency.replication&subscription=aaaa", nil, p, ""))
	var fs []guard.Finding
	if err := json.Unmarshal(res.Body, &fs); err != nil || res.StatusCode != 200 || len(fs) != 1 || fs[0].ID != "f1" {
		t.Errorf("filtered list: %d %s", res.StatusCode, res.Body)
	}
	if got := api.filters[len(api.filters)-1]; got.Status != guard.StatusOpen || got.Rule != guard.RuleResidencyReplication {
		t.Errorf("filter passed on %+v", got)
	}
	res = callAPI(t, h, apiInvocation("GET", "findings", nil, p, ""))
	if err := json.Unmarshal(res.Body, &fs); err != nil || len(fs) != 3 {
		t.Errorf("whole list: %s", res.Body)
	}
	// A custom rule's ID (a policy's customRules) filters as a built-in one does.
	res = callAPI(t, h, apiInvocation("GET", "findings?rule=custom.storage-public-blob", nil, p, ""))
	if got := api.filters[len(api.filters)-1]; res.StatusCode != 200 || got.Rule != "custom.storage-public-blob" {
		t.Errorf("custom rule filter: %d %s, filter %+v", res.StatusCode, res.Body, got)
	}
	for _, bad := range []string{"findings?status=closed", "findings?rule=no.such-rule"} {
		if res := callAPI(t, h, apiInvocation("GET", bad, nil, p, "")); res.StatusCode != 400 {
			t.Errorf("GET %s: %d, want 400", bad, res.StatusCode)
		}
	}
	res = callAPI(t, h, apiInvocation("GET", "findings/f2", map[string]string{"id": "f2"}, p, ""))
	var one map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &one); err != nil || res.StatusCode != 200 || string(one["id"]) != `"f2"` || one["remediationPlans"] == nil || one["remediation"] == nil {
		t.Errorf("GET one: %d %s", res.StatusCode, res.Body)
	}
	if res := callAPI(t, h, apiInvocation("GET", "findings/nope", map[string]string{"id": "nope"}, p, "")); res.StatusCode != 404 {
		t.Errorf("GET unknown: %d", res.StatusCode)
	}
	// Without route parameters the path is read from the URL.
	res = callAPI(t, h, apiInvocation("GET", "findings/f3", nil, p, ""))
	if err := json.Unmarshal(res.Body, &one); err != nil || string(one["id"]) != `"f3"` {
		t.Errorf("GET from the URL: %s", res.Body)
	}
}

func TestAPIApproveAndDeny(t *testing.T) {
	api := &fakeAPI{findings: []guard.Finding{{ID: "f1", Status: guard.StatusOpen}}}
	h, _ := newAPIHandler(t, api)
	p := clientPrincipal(oid, "alice.nguyen@contoso.com", RoleApprover)
	res := callAPI(t, h, apiInvocation("POST", "findings/f1/approve", map[string]string{"id": "f1", "action": "approve"}, p, `{"reason":"CHG-1042"}`))
	if res.StatusCode != 200 || !strings.Contains(string(res.Body), `"decision":"approved"`) {
		t.Errorf("approve: %d %s", res.StatusCode, res.Body)
	}
	res = callAPI(t, h, apiInvocation("POST", "findings/f1/deny", map[string]string{"id": "f1", "action": "deny"}, p, `{"reason":"licence D-1187"}`))
	if res.StatusCode != 200 || !strings.Contains(string(res.Body), `"decision":"denied"`) {
		t.Errorf("deny: %d %s", res.StatusCode, res.Body)
	}
	want := []string{
		"approve|f1|" + oid + "|alice.nguyen@contoso.com|aad|CHG-1042",
		"deny|f1|" + oid + "|alice.nguyen@contoso.com|aad|licence D-1187",
	}
	if diff := cmp.Diff(want, api.decisions); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, method, path, body string
		params                   map[string]string
		want                     int
	}{
		{"no reason", "POST", "findings/f1/approve", `{"reason":"  "}`, map[string]string{"id": "f1", "action": "approve"}, 400},
		{"no body", "POST", "findings/f1/approve", "", map[string]string{"id": "f1", "action": "approve"}, 400},
		{"body not JSON", "POST", "findings/f1/approve", "approve it", map[string]string{"id": "f1", "action": "approve"}, 400},
		{"POST list", "POST", "findings", `{"reason":"x"}`, nil, 405},
		{"unknown action", "POST", "findings/f1/delete", `{"reason":"x"}`, map[string]string{"id": "f1", "action": "delete"}, 404},
		{"PUT", "PUT", "findings/f1", "", map[string]string{"id": "f1"}, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := callAPI(t, h, apiInvocation(tc.method, tc.path, tc.params, p, tc.body)); res.StatusCode != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, res.StatusCode, res.Body, tc.want)
			}
		})
	}
	// The backend's refusals reach the caller as their status and message.
	api.decideErr = &APIError{Status: http.StatusConflict, Message: "the remediation plan's approval deadline has passed"}
	res = callAPI(t, h, apiInvocation("POST", "findings/f1/approve", map[string]string{"id": "f1", "action": "approve"}, p, `{"reason":"x"}`))
	if res.StatusCode != 409 || !strings.Contains(string(res.Body), "deadline") {
		t.Errorf("conflict: %d %s", res.StatusCode, res.Body)
	}
	api.decideErr = fmt.Errorf("wrapped: %w", guard.ErrNotFound)
	if res := callAPI(t, h, apiInvocation("POST", "findings/f1/approve", map[string]string{"id": "f1", "action": "approve"}, p, `{"reason":"x"}`)); res.StatusCode != 404 {
		t.Errorf("not found: %d", res.StatusCode)
	}
	api.decideErr = errStoreDown
	res = callAPI(t, h, apiInvocation("POST", "findings/f1/approve", map[string]string{"id": "f1", "action": "approve"}, p, `{"reason":"x"}`))
	if res.StatusCode != 500 || strings.Contains(string(res.Body), "SECRETSIG") {
		t.Errorf("store down: %d %s", res.StatusCode, res.Body)
	}
}

func TestAPIWithoutBackend(t *testing.T) {
	h, _ := newAPIHandler(t, &fakeIngester{})
	res := callAPI(t, h, apiInvocation("GET", "findings", nil, clientPrincipal(oid, "a@b", RoleReader), ""))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", res.StatusCode)
	}
	// Unauthenticated callers learn nothing, configured or not.
	res = callAPI(t, h, apiInvocation("GET", "findings", nil, "", ""))
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", res.StatusCode)
	}
}

func TestPrincipalDecoding(t *testing.T) {
	r := &httpRequest{Headers: map[string]json.RawMessage{
		"x-ms-client-principal":      json.RawMessage(`["` + base64.RawURLEncoding.EncodeToString([]byte(`{"auth_typ":"aad","claims":[{"typ":"oid","val":"`+oid+`"}]}`)) + `"]`),
		"X-MS-CLIENT-PRINCIPAL-NAME": json.RawMessage(`["bob@contoso.com"]`),
	}}
	p, ok := r.principal()
	if !ok || p.ObjectID != oid || p.Name != "bob@contoso.com" || p.IdentityProvider != "aad" {
		t.Errorf("principal %+v %v", p, ok)
	}
	if _, ok := (&httpRequest{}).principal(); ok {
		t.Error("no header gave a principal")
	}
}

// FuzzAPIRequest sends arbitrary request objects and principal headers to the
// api function: it never panics, always answers the host with 200 and a status
// for the caller in Outputs.res, and decides nothing without a principal.
func FuzzAPIRequest(f *testing.F) {
	p := clientPrincipal(oid, "alice@contoso.com", RoleApprover)
	f.Add(`{"Method":"GET","Url":"https://x/api/findings","Query":{"status":"open"}}`, p)
	f.Add(`{"Method":"POST","Url":"https://x/api/findings/f1/approve","Params":{"id":"f1","action":"approve"},"Body":"{\"reason\":\"r\"}"}`, p)
	f.Add(`{"Method":"POST","Params":{"id":["f1"],"action":7},"Body":12,"Query":"{}"}`, "")
	f.Add(`"{\"Method\":\"GET\"}"`, base64.StdEncoding.EncodeToString([]byte(`{"claims":null}`)))
	f.Add(`{}`, "%%%")
	f.Fuzz(func(t *testing.T, req, principal string) {
		api := &fakeAPI{findings: []guard.Finding{{ID: "f1", Status: guard.StatusOpen}}}
		h, _ := newAPIHandler(t, api)
		var r map[string]any
		if json.Unmarshal([]byte(req), &r) == nil && r != nil {
			r["Headers"] = map[string][]string{"X-MS-CLIENT-PRINCIPAL": {principal}}
		}
		raw, _ := json.Marshal(r)
		if r == nil {
			raw = []byte(req)
		}
		body, _ := json.Marshal(map[string]any{"Data": map[string]json.RawMessage{"req": json.RawMessage(raw)}})
		if !json.Valid(raw) {
			body = []byte(`{"Data":{"req":` + strconvQuote(req) + `}}`)
		}
		w := do(h, hostRequest(http.MethodPost, "/api", body))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("host answer %d %s", w.Code, w.Body)
		}
		if w.Code == http.StatusOK {
			var a struct {
				Outputs struct {
					Res struct {
						StatusCode int `json:"statusCode"`
					} `json:"res"`
				}
			}
			if err := json.Unmarshal(w.Body.Bytes(), &a); err != nil || a.Outputs.Res.StatusCode < 200 {
				t.Fatalf("answer %s", w.Body)
			}
		}
		if principal == "" && len(api.decisions) != 0 {
			t.Fatalf("decided without a principal: %v", api.decisions)
		}
	})
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The approve and deny links in Teams and Slack cards are opened with GET: they
// get a page asking for the reason, which posts a form back; opening the link
// decides nothing, and a post from another site's page is refused.
func TestAPIConfirmationPage(t *testing.T) {
	api := &fakeAPI{findings: []guard.Finding{{ID: "f1", Status: guard.StatusOpen}}}
	h, _ := newAPIHandler(t, api)
	p := clientPrincipal(oid, "alice.nguyen@contoso.com", RoleApprover)
	params := map[string]string{"id": "f1", "action": "approve"}

	a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/api", apiInvocation("GET", "findings/f1/approve", params, p, ""))))
	var res struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Body       string            `json:"body"`
	}
	if err := json.Unmarshal(a.Outputs["res"], &res); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Headers["Content-Type"], "text/html") ||
		!strings.Contains(res.Body, `<form method="post">`) || !strings.Contains(res.Body, `name="reason"`) {
		t.Errorf("GET approve = %d %v %q, want a page with a reason form", res.StatusCode, res.Headers, res.Body)
	}
	if len(api.decisions) != 0 {
		t.Fatalf("opening the link decided %v", api.decisions)
	}

	form := func(origin string) []byte {
		var env map[string]any
		_ = json.Unmarshal(apiInvocation("POST", "findings/f1/approve", params, p, "reason=CHG-1042+%28weekly+change%29"), &env)
		req := env["Data"].(map[string]any)["req"].(map[string]any)
		hd := req["Headers"].(map[string]any)
		hd["Content-Type"] = []string{"application/x-www-form-urlencoded"}
		if origin != "" {
			hd["Origin"] = []string{origin}
		}
		b, _ := json.Marshal(env)
		return b
	}
	if r := callAPI(t, h, form("https://evil.example")); r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin form post = %d %s, want 403", r.StatusCode, r.Body)
	}
	if r := callAPI(t, h, form("https://func-exportguard.azurewebsites.net")); r.StatusCode != 200 {
		t.Errorf("same-origin form post = %d %s, want 200", r.StatusCode, r.Body)
	}
	want := []string{"approve|f1|" + oid + "|alice.nguyen@contoso.com|aad|CHG-1042 (weekly change)"}
	if diff := cmp.Diff(want, api.decisions); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
}
