package functions

import (
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Principals of the authorisation tests (object IDs).
const (
	oidCarol = "c0c0c0c0-1111-4222-8333-444455556666" // changed the resource behind f-user
	oidDave  = "d0d0d0d0-1111-4222-8333-444455556666" // changed the resource behind f-oid
	oidSP    = "e0e0e0e0-1111-4222-8333-444455556666" // the pipeline behind f-app
	appIDSP  = "a0a0a0a0-1111-4222-8333-444455556666"
)

// principalWith builds X-MS-CLIENT-PRINCIPAL from an auth_typ and claims
// (type, value pairs), without role_typ.
func principalWith(authType string, claims ...string) string {
	var cs []map[string]string
	for i := 0; i+1 < len(claims); i += 2 {
		cs = append(cs, map[string]string{"typ": claims[i], "val": claims[i+1]})
	}
	return encodePrincipal(map[string]any{"auth_typ": authType, "claims": cs})
}

// The api and dashboard functions, through the invocations the host sends:
// who may do what (DESIGN 3.7).
func TestAPIAuthorisation(t *testing.T) {
	findings := []guard.Finding{
		{ID: "f-user", Status: guard.StatusOpen, Trigger: guard.Trigger{Caller: "carol.diaz@contoso.com"}},
		{ID: "f-oid", Status: guard.StatusOpen, Trigger: guard.Trigger{Caller: oidDave}},
		{ID: "f-app", Status: guard.StatusOpen, Trigger: guard.Trigger{Caller: "app:" + appIDSP + " (object " + oidSP + ")"}},
	}
	azure := APIAuth{AppServiceAuth: true, InAzure: true, TenantID: tenant}
	var (
		approver = clientPrincipal(oid, "alice.nguyen@contoso.com", RoleApprover)
		reader   = clientPrincipal(oid, "alice.nguyen@contoso.com", RoleReader)
		noRole   = clientPrincipal(oid, "alice.nguyen@contoso.com")
		// The cause of f-user, by UPN (spelt otherwise), with another object ID.
		carol = clientPrincipal(oidCarol, "Carol.Diaz@Contoso.com", RoleApprover)
		// The cause of f-oid, by object ID (its caller has no UPN).
		dave = clientPrincipal(strings.ToUpper(oidDave), "dave.ito@contoso.com", RoleApprover)
		// The service principal behind f-app, with an application role.
		pipeline = principalWith("aad", "tid", tenant, "oid", oidSP, "appid", appIDSP, "roles", RoleApprover)
		// A made-up name and no object ID.
		noOID = clientPrincipal("", "boss@contoso.com", RoleApprover)
		// Roles as the token's "roles" claim (no role_typ), the tenant as "tid".
		shortClaims = principalWith("aad", "tid", tenant, "oid", oid, "preferred_username", "alice.nguyen@contoso.com", "roles", RoleReader)
		otherTenant = principalWith("aad", "tid", "0b0b0b0b-0000-4000-8000-000000000000", "oid", oid, "roles", RoleApprover)
		noTenant    = principalWith("aad", "oid", oid, "roles", RoleApprover)
		google      = principalWith("google", "tid", tenant, "oid", oid, "roles", RoleApprover)
		noAuthType  = principalWith("", "tid", tenant, "oid", oid, "roles", RoleApprover)
	)
	approve := func(id string) (string, string, map[string]string, string) {
		return "POST", "findings/" + id + "/approve", map[string]string{"id": id, "action": "approve"}, `{"reason":"CHG-7"}`
	}
	deny := func(id string) (string, string, map[string]string, string) {
		return "POST", "findings/" + id + "/deny", map[string]string{"id": id, "action": "deny"}, `{"reason":"CHG-7"}`
	}
	get := func(path string) (string, string, map[string]string, string) {
		params := map[string]string{}
		if id, ok := strings.CutPrefix(path, "findings/"); ok {
			id, action, _ := strings.Cut(id, "/")
			params["id"] = id
			if action != "" {
				params["action"] = action
			}
		}
		return "GET", path, params, ""
	}
	type request func() (method, path string, params map[string]string, body string)
	for _, tc := range []struct {
		name      string
		auth      APIAuth
		principal string
		req       request
		want      int
		wantBody  string
	}{
		// App Service authentication must be on, or the local override set.
		{"auth off: read", APIAuth{}, approver, func() (string, string, map[string]string, string) { return get("findings") }, 503, "WEBSITE_AUTH_ENABLED"},
		{"auth off: approve", APIAuth{TenantID: tenant}, approver, func() (string, string, map[string]string, string) { return approve("f-user") }, 503, "WEBSITE_AUTH_ENABLED"},
		{"auth off: dashboard", APIAuth{}, approver, func() (string, string, map[string]string, string) { return get("dashboard") }, 503, "WEBSITE_AUTH_ENABLED"},
		{"auth off in Azure", APIAuth{InAzure: true}, approver, func() (string, string, map[string]string, string) { return get("findings") }, 503, "WEBSITE_AUTH_ENABLED"},
		{"local override: read", APIAuth{Local: true}, reader, func() (string, string, map[string]string, string) { return get("findings") }, 200, ""},
		{"local override: approve", APIAuth{Local: true}, approver, func() (string, string, map[string]string, string) { return approve("f-user") }, 200, `"approved"`},
		{"local override in Azure", APIAuth{Local: true, InAzure: true}, approver, func() (string, string, map[string]string, string) { return get("findings") }, 503, "WEBSITE_SITE_NAME"},
		{"local override in Azure with auth on", APIAuth{Local: true, InAzure: true, AppServiceAuth: true}, approver, func() (string, string, map[string]string, string) { return approve("f-user") }, 503, "EXPORTGUARD_API_AUTH=local"},
		{"local override in Azure: dashboard", APIAuth{Local: true, InAzure: true}, reader, func() (string, string, map[string]string, string) { return get("dashboard") }, 503, "WEBSITE_SITE_NAME"},

		// Entra ID principals of the tenant, with an object ID.
		{"google principal", azure, google, func() (string, string, map[string]string, string) { return approve("f-user") }, 401, "aad"},
		{"principal without auth_typ", azure, noAuthType, func() (string, string, map[string]string, string) { return get("findings") }, 401, "aad"},
		{"other tenant", azure, otherTenant, func() (string, string, map[string]string, string) { return approve("f-user") }, 403, "tenant"},
		{"no tenant claim", azure, noTenant, func() (string, string, map[string]string, string) { return get("findings") }, 403, "tenant"},
		{"no tenant configured", APIAuth{AppServiceAuth: true}, noTenant, func() (string, string, map[string]string, string) { return get("findings") }, 200, ""},
		{"no object ID: approve", azure, noOID, func() (string, string, map[string]string, string) { return approve("f-user") }, 403, "object ID"},
		{"no object ID: read", azure, noOID, func() (string, string, map[string]string, string) { return get("findings/f-user") }, 403, "object ID"},
		{"short claim names", azure, shortClaims, func() (string, string, map[string]string, string) { return get("findings/f-oid") }, 200, `"f-oid"`},

		// Roles, decided before anything is looked up.
		{"reader lists", azure, reader, func() (string, string, map[string]string, string) { return get("findings") }, 200, `"f-app"`},
		{"reader reads one", azure, reader, func() (string, string, map[string]string, string) { return get("findings/f-user") }, 200, `"remediationPlans"`},
		{"reader: dashboard", azure, reader, func() (string, string, map[string]string, string) { return get("dashboard") }, 200, ""},
		{"reader approves", azure, reader, func() (string, string, map[string]string, string) { return approve("f-user") }, 403, RoleApprover},
		{"reader denies", azure, reader, func() (string, string, map[string]string, string) { return deny("f-user") }, 403, RoleApprover},
		{"reader opens the approve page", azure, reader, func() (string, string, map[string]string, string) { return get("findings/f-user/approve") }, 403, RoleApprover},
		{"reader approves a finding that does not exist", azure, reader, func() (string, string, map[string]string, string) { return approve("nope") }, 403, RoleApprover},
		{"no role: list", azure, noRole, func() (string, string, map[string]string, string) { return get("findings") }, 403, RoleReader},
		{"no role: existing finding", azure, noRole, func() (string, string, map[string]string, string) { return get("findings/f-user") }, 403, RoleReader},
		{"no role: missing finding", azure, noRole, func() (string, string, map[string]string, string) { return get("findings/nope") }, 403, RoleReader},
		{"no role: approve existing", azure, noRole, func() (string, string, map[string]string, string) { return approve("f-user") }, 403, RoleApprover},
		{"no role: approve missing", azure, noRole, func() (string, string, map[string]string, string) { return approve("nope") }, 403, RoleApprover},
		{"no role: dashboard", azure, noRole, func() (string, string, map[string]string, string) { return get("dashboard") }, 403, RoleReader},
		{"approver reads", azure, approver, func() (string, string, map[string]string, string) { return get("findings/f-app") }, 200, `"f-app"`},
		{"approver: dashboard", azure, approver, func() (string, string, map[string]string, string) { return get("dashboard") }, 200, ""},
		{"approver approves", azure, approver, func() (string, string, map[string]string, string) { return approve("f-user") }, 200, `"approved"`},
		{"approver denies", azure, approver, func() (string, string, map[string]string, string) { return deny("f-oid") }, 200, `"denied"`},
		{"approver approves a finding that does not exist", azure, approver, func() (string, string, map[string]string, string) { return approve("nope") }, 404, "no finding"},

		// Separation of duties: the cause of a finding does not decide its fix.
		{"cause by UPN approves", azure, carol, func() (string, string, map[string]string, string) { return approve("f-user") }, 403, "separation of duties"},
		{"cause by UPN denies", azure, carol, func() (string, string, map[string]string, string) { return deny("f-user") }, 403, "separation of duties"},
		{"cause by UPN opens the approve page", azure, carol, func() (string, string, map[string]string, string) { return get("findings/f-user/approve") }, 403, "separation of duties"},
		{"cause by UPN decides another finding", azure, carol, func() (string, string, map[string]string, string) { return approve("f-oid") }, 200, `"approved"`},
		{"cause by object ID approves", azure, dave, func() (string, string, map[string]string, string) { return approve("f-oid") }, 403, "separation of duties"},
		{"cause by object ID denies", azure, dave, func() (string, string, map[string]string, string) { return deny("f-oid") }, 403, "separation of duties"},
		{"cause as a service principal approves", azure, pipeline, func() (string, string, map[string]string, string) { return approve("f-app") }, 403, "separation of duties"},
		{"cause as a service principal denies", azure, pipeline, func() (string, string, map[string]string, string) { return deny("f-app") }, 403, "separation of duties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDashboard{fakeAPI: fakeAPI{findings: findings}}
			h, logs := newTestHandler(t, d, func(o *Options) { o.APIAuth = tc.auth })
			method, path, params, body := tc.req()
			env := apiInvocation(method, path, params, tc.principal, body)
			var status int
			var got string
			if path == "dashboard" {
				var raw []byte
				status, _, raw = callDashboard(t, h, env)
				got = string(raw)
			} else {
				res := callAPI(t, h, env)
				status, got = res.StatusCode, string(res.Body)
			}
			if status != tc.want || !strings.Contains(got, tc.wantBody) {
				t.Errorf("%s %s: %d %s, want %d with %q", method, path, status, got, tc.want, tc.wantBody)
			}
			decided := len(d.decisions) > 0
			if wantDecided := tc.want == 200 && method == "POST"; decided != wantDecided {
				t.Errorf("decisions %v, want one: %v", d.decisions, wantDecided)
			}
			if rendered := len(d.refresh) > 0; rendered != (tc.want == 200 && path == "dashboard") {
				t.Errorf("dashboard rendered: %v", rendered)
			}
			if (tc.want == 401 || tc.want == 403 || tc.want == 503) && !strings.Contains(logs.String(), "refused") {
				t.Errorf("the refusal is not logged: %s", logs)
			}
		})
	}
}

// A caller without a role gets the same answer for a finding that exists and
// one that does not: the API is no oracle of finding IDs.
func TestAPINoRoleIsNoOracle(t *testing.T) {
	api := &fakeAPI{findings: []guard.Finding{{ID: "f1", Status: guard.StatusOpen}}}
	h, _ := newAPIHandler(t, api)
	for _, tc := range []struct {
		principal string
		actions   []string // what the principal's roles do not allow
	}{
		{clientPrincipal(oid, "mallory@contoso.com"), []string{"", "approve", "deny"}},
		{clientPrincipal(oid, "mallory@contoso.com", RoleReader), []string{"approve", "deny"}},
	} {
		p := tc.principal
		for _, action := range tc.actions {
			answer := func(id string) apiAnswer {
				params, path, method, body := map[string]string{"id": id}, "findings/"+id, "GET", ""
				if action != "" {
					params["action"], path, method, body = action, path+"/"+action, "POST", `{"reason":"x"}`
				}
				return callAPI(t, h, apiInvocation(method, path, params, p, body))
			}
			exists, missing := answer("f1"), answer("f2")
			if exists.StatusCode != missing.StatusCode || string(exists.Body) != string(missing.Body) {
				t.Errorf("action %q: %d %s for an existing finding, %d %s for a missing one", action,
					exists.StatusCode, exists.Body, missing.StatusCode, missing.Body)
			}
		}
	}
	if len(api.decisions) != 0 {
		t.Errorf("decided %v", api.decisions)
	}
}

// serve reads the settings from the environment.
func TestAPIAuthFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want APIAuth
	}{
		{nil, APIAuth{}},
		{map[string]string{"WEBSITE_AUTH_ENABLED": "True", "WEBSITE_SITE_NAME": "func-eg", "AZURE_TENANT_ID": " " + tenant + " "},
			APIAuth{AppServiceAuth: true, InAzure: true, TenantID: tenant}},
		{map[string]string{"WEBSITE_AUTH_ENABLED": "False", "EXPORTGUARD_API_AUTH": "Local"}, APIAuth{Local: true}},
		{map[string]string{"WEBSITE_AUTH_ENABLED": "1", "EXPORTGUARD_API_AUTH": "on"}, APIAuth{}},
	} {
		if got := APIAuthFromEnv(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.env, got, tc.want)
		}
	}
}
