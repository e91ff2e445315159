package functions

import (
	"net/http"
	"slices"
	"strings"
)

// Who may call the api and dashboard functions, and what they may do there
// (DESIGN §3.7). App Service authentication (Entra ID) admits callers and
// passes the principal in X-MS-CLIENT-PRINCIPAL; this file decides what that
// principal may do: nothing unless App Service authentication is really in
// front of the app (otherwise anyone could write the header), only Entra ID
// principals of this tenant with an object ID, and only with one of the app's
// roles. The decision is taken from the request alone, before anything is
// looked up, so that a caller without a role learns nothing from the answer
// (the same 403 for a finding that exists and one that does not).

// App roles declared on the Entra application (infra/entra.tf).
const (
	RoleReader   = "ExportGuard.Reader"   // read findings, plans and the dashboard
	RoleApprover = "ExportGuard.Approver" // all a reader may, and approve or deny a remediation
)

// Environment variables APIAuthFromEnv reads.
const (
	// EnvAuthEnabled is set to True by App Service when its authentication is on
	// ("Read-only. Injected into a Windows or Linux app to indicate whether App
	// Service authentication is enabled",
	// https://learn.microsoft.com/azure/app-service/reference-app-settings).
	EnvAuthEnabled = "WEBSITE_AUTH_ENABLED"
	// EnvSiteName is set by App Service to the app's name: the process runs in Azure.
	EnvSiteName = "WEBSITE_SITE_NAME"
	// EnvAPIAuth=local trusts X-MS-CLIENT-PRINCIPAL without App Service
	// authentication, for func start on a workstation. Refused in Azure.
	EnvAPIAuth = "EXPORTGUARD_API_AUTH"
	// EnvTenantID is the Entra tenant whose principals are accepted.
	EnvTenantID = "AZURE_TENANT_ID"
)

// APIAuth is how the api and dashboard functions authenticate their callers.
// The zero value refuses every call (503): App Service authentication is not
// known to be on.
type APIAuth struct {
	// AppServiceAuth: App Service authentication is on (WEBSITE_AUTH_ENABLED=True),
	// so X-MS-CLIENT-PRINCIPAL can only have come from App Service.
	AppServiceAuth bool
	// Local: EXPORTGUARD_API_AUTH=local, trust the header without App Service
	// authentication (a workstation).
	Local bool
	// InAzure: WEBSITE_SITE_NAME is set. Local is then refused.
	InAzure bool
	// TenantID, when set, is the only tenant whose tokens are accepted.
	TenantID string
}

// APIAuthFromEnv reads the api's authentication settings from the environment
// (serve passes os.Getenv).
func APIAuthFromEnv(getenv func(string) string) APIAuth {
	return APIAuth{
		AppServiceAuth: strings.EqualFold(strings.TrimSpace(getenv(EnvAuthEnabled)), "true"),
		Local:          strings.EqualFold(strings.TrimSpace(getenv(EnvAPIAuth)), "local"),
		InAzure:        strings.TrimSpace(getenv(EnvSiteName)) != "",
		TenantID:       strings.TrimSpace(getenv(EnvTenantID)),
	}
}

// refusal is why a call is refused: the caller's status and a message for people.
type refusal struct {
	status int
	msg    string
}

// admit checks that the principal header can be believed at all. It does not
// look at the request.
func (a APIAuth) admit() *refusal {
	switch {
	case a.Local && a.InAzure:
		return &refusal{http.StatusServiceUnavailable, EnvAPIAuth + "=local is refused when running in Azure (" + EnvSiteName +
			" is set): remove it and turn on App Service authentication"}
	case a.Local:
		return nil
	case !a.AppServiceAuth:
		return &refusal{http.StatusServiceUnavailable, "App Service authentication is off (" + EnvAuthEnabled +
			" is not True), so the caller's identity cannot be trusted: turn it on (infra/ does), or set " + EnvAPIAuth + "=local on a workstation"}
	}
	return nil
}

// authenticate checks who the principal is: an Entra ID principal of the
// tenant, with an object ID.
func (a APIAuth) authenticate(p Principal) *refusal {
	switch {
	case !strings.EqualFold(p.IdentityProvider, "aad"):
		return &refusal{http.StatusUnauthorized, "only Entra ID (aad) principals are accepted"}
	case a.TenantID != "" && !strings.EqualFold(p.TenantID, a.TenantID):
		return &refusal{http.StatusForbidden, "the principal is not of this deployment's Entra tenant"}
	case p.ObjectID == "":
		return &refusal{http.StatusForbidden, "the principal has no object ID (oid claim)"}
	}
	return nil
}

// may reports whether p holds a role that allows what needs asks for.
func (p Principal) may(need string) bool {
	if slices.Contains(p.Roles, RoleApprover) {
		return true
	}
	return need == RoleReader && slices.Contains(p.Roles, RoleReader)
}

// neededRole is the role a request needs, from its method and route alone:
// approving or denying (and the page that asks for the reason) needs an
// approver, everything else a reader.
func neededRole(action string) string {
	if strings.EqualFold(action, "approve") || strings.EqualFold(action, "deny") {
		return RoleApprover
	}
	return RoleReader
}

// causedBy reports whether p is the principal a finding's trigger.caller names,
// so that p may not decide the finding's remediation (separation of duties).
// A caller is spelt as guard.CallerFromClaims spells it: a UPN or name, an
// object ID, or "app:APPID (object OID)" for a service principal. Compared
// without regard to case.
func causedBy(caller string, p Principal) bool {
	caller = strings.TrimSpace(caller)
	if caller == "" {
		return false
	}
	same := func(a, b string) bool { return a != "" && b != "" && strings.EqualFold(a, b) }
	if app, ok := strings.CutPrefix(caller, "app:"); ok {
		app, obj, _ := strings.Cut(app, " (object ")
		obj = strings.TrimSuffix(obj, ")")
		return same(strings.TrimSpace(obj), p.ObjectID) || same(strings.TrimSpace(app), p.AppID)
	}
	if same(caller, p.ObjectID) || same(caller, p.Name) {
		return true
	}
	for _, n := range p.names {
		if same(caller, n) {
			return true
		}
	}
	return false
}
