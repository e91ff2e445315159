package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The api function (functions/api/function.json): an httpTrigger with route
// findings/{id?}/{action?}, methods get and post, and an http output "res".
//
//	GET  /api/findings?status=open&rule=…&subscription=…   the findings (DESIGN 3.4 objects), as a JSON array
//	GET  /api/findings/{id}                                the finding, with its remediation plans (remediationPlans)
//	POST /api/findings/{id}/approve   {"reason": "…"}      approve the plan that waits for a person
//	POST /api/findings/{id}/deny      {"reason": "…"}      deny it
//	GET  /api/findings/{id}/approve|deny                   a page asking for the reason (the links in cards);
//	                                                       its form posts reason=… back (same origin only)
//
// Who calls is the principal App Service authentication (Easy Auth) put in
// front of the app vouched for: it authenticates the caller with Entra ID and
// passes the principal to the app in the X-MS-CLIENT-PRINCIPAL header, a
// Base64-encoded JSON {"auth_typ", "claims":[{"typ","val"}], "name_typ",
// "role_typ"}, together with X-MS-CLIENT-PRINCIPAL-ID, -NAME and -IDP.
// External requests are not allowed to set these headers: they are present only
// when App Service set them
// (https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities),
// which holds only while App Service authentication is on; authz.go decides
// what the principal may do (DESIGN 3.7): its app roles, its tenant, and
// whether it caused the finding it would decide. A request without a readable
// principal is refused with 401, whatever it asks for. The approver's object ID
// and name, and the reason, go to the audit trail and the finding. The
// function's authLevel is anonymous because App Service authentication, not a
// function key, is what admits callers.
//
// The invocation itself always succeeds (200): the caller's status travels in
// Outputs.res, whose body is a JSON object or array (never a string, which the
// host would try to base64-decode, research note §4).

const (
	fnAPI = "api"

	headerPrincipal     = "X-MS-CLIENT-PRINCIPAL"
	headerPrincipalID   = "X-MS-CLIENT-PRINCIPAL-ID"
	headerPrincipalName = "X-MS-CLIENT-PRINCIPAL-NAME"
	headerPrincipalIDP  = "X-MS-CLIENT-PRINCIPAL-IDP"

	// maxPrincipalBytes bounds the principal header (a token's claims).
	maxPrincipalBytes = 64 << 10
	// maxReasonBytes bounds an approval's reason.
	maxReasonBytes = 2000
)

// Claim types of a principal (Entra ID tokens, as App Service maps them).
var (
	claimsObjectID = []string{"http://schemas.microsoft.com/identity/claims/objectidentifier", "oid"}
	claimsTenantID = []string{"http://schemas.microsoft.com/identity/claims/tenantid", "tid"}
	claimsAppID    = []string{"appid", "azp"}
	claimsName     = []string{"preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "name", "email"}
	// claimsSignIn are the names a principal signs in with (not display
	// names): what an Activity Log caller may be (guard.CallerFromClaims).
	claimsSignIn = []string{"preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn", "upn",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "email",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"}
)

// claimRoles is the claim type of app roles in Entra ID tokens; App Service
// may map it to the principal's role_typ.
const claimRoles = "roles"

// Principal is the caller App Service authentication vouched for.
type Principal struct {
	ObjectID         string   // Entra ID object ID (oid claim)
	Name             string   // UPN, preferred username or display name
	IdentityProvider string   // auth_typ: aad for Entra ID
	TenantID         string   // tid claim
	AppID            string   // appid or azp claim: the client application
	Roles            []string // app roles (claims of type role_typ or roles)

	names []string // every sign-in name the claims carry (separation of duties)
}

// FindingsAPI is what the api function needs: findings to read, and remediation
// plans to list, approve and deny. The Ingester given to NewHandler serves the
// api function when it implements FindingsAPI; otherwise the function answers
// 503.
type FindingsAPI interface {
	ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error)
	GetFinding(ctx context.Context, id string) (*guard.Finding, error)
	// RemediationPlans returns the finding's remediation plans as JSON values.
	RemediationPlans(ctx context.Context, findingID string) (any, error)
	Approve(ctx context.Context, findingID string, who Principal, reason string) (any, error)
	Deny(ctx context.Context, findingID string, who Principal, reason string) (any, error)
}

// APIError is an answer a FindingsAPI wants the caller to see: an HTTP status
// and a message meant for people (no store names, no secrets).
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// httpRequest is Data.req of an httpTrigger invocation (research note §3.1).
type httpRequest struct {
	URL     string                     `json:"Url"`
	Method  string                     `json:"Method"`
	Query   json.RawMessage            `json:"Query"`
	Headers map[string]json.RawMessage `json:"Headers"`
	Params  map[string]json.RawMessage `json:"Params"`
	Body    json.RawMessage            `json:"Body"`
}

// header returns the first value of a header, matching its name in any case.
func (r *httpRequest) header(name string) string {
	raw, ok := lookup(r.Headers, name)
	if !ok {
		return ""
	}
	var vs []string
	if json.Unmarshal(raw, &vs) == nil {
		if len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// param returns a route parameter as text.
func (r *httpRequest) param(name string) string {
	raw, ok := lookup(r.Params, name)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	return strings.Trim(strings.TrimSpace(string(raw)), `"`)
}

// query returns the query as a map: the host sends an object (or, in older
// docs, a string holding one).
func (r *httpRequest) query() map[string]string {
	out := map[string]string{}
	t := bytes.TrimSpace(unquote(r.Query, maxUnwrap))
	if len(t) > 0 && t[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(t, &m) == nil {
			for k, v := range m {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = string(v)
				}
				out[strings.ToLower(k)] = s
			}
			return out
		}
	}
	// Fall back on the URL's query string.
	if u, err := url.Parse(r.URL); err == nil {
		for k, v := range u.Query() {
			if len(v) > 0 {
				out[strings.ToLower(k)] = v[0]
			}
		}
	}
	return out
}

// route returns the finding ID and action: from the route parameters, or from
// the URL's path after /findings.
func (r *httpRequest) route() (id, action string) {
	id, action = r.param("id"), r.param("action")
	if id != "" || action != "" {
		return id, action
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return "", ""
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i, p := range parts {
		if strings.EqualFold(p, "findings") {
			rest := parts[i+1:]
			if len(rest) > 0 {
				id, _ = url.PathUnescape(rest[0])
			}
			if len(rest) > 1 {
				action = rest[1]
			}
			break
		}
	}
	return id, action
}

// principal decodes X-MS-CLIENT-PRINCIPAL. ok is false when there is none, or
// it cannot be read, or it names nobody. Whether the principal may do anything
// is for authz.go to say.
func (r *httpRequest) principal() (Principal, bool) {
	raw := strings.TrimSpace(r.header(headerPrincipal))
	if raw == "" || len(raw) > maxPrincipalBytes {
		return Principal{}, false
	}
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(raw); err == nil {
			break
		}
	}
	if err != nil {
		return Principal{}, false
	}
	var cp struct {
		AuthType string `json:"auth_typ"`
		Claims   []struct {
			Typ string `json:"typ"`
			Val string `json:"val"`
		} `json:"claims"`
		NameType string `json:"name_typ"`
		RoleType string `json:"role_typ"`
	}
	if json.Unmarshal(b, &cp) != nil {
		return Principal{}, false
	}
	claim := func(types ...string) string {
		for _, t := range types {
			for _, c := range cp.Claims {
				if strings.EqualFold(c.Typ, t) && strings.TrimSpace(c.Val) != "" {
					return strings.TrimSpace(c.Val)
				}
			}
		}
		return ""
	}
	p := Principal{ObjectID: claim(claimsObjectID...), IdentityProvider: strings.TrimSpace(cp.AuthType),
		TenantID: claim(claimsTenantID...), AppID: claim(claimsAppID...)}
	names := claimsName
	if cp.NameType != "" {
		names = append([]string{cp.NameType}, names...)
	}
	p.Name = firstNonEmpty(claim(names...), strings.TrimSpace(r.header(headerPrincipalName)))
	for _, c := range cp.Claims {
		v := strings.TrimSpace(c.Val)
		switch {
		case v == "":
		case strings.EqualFold(c.Typ, claimRoles) || (cp.RoleType != "" && strings.EqualFold(c.Typ, cp.RoleType)):
			p.Roles = append(p.Roles, v)
		case slices.ContainsFunc(claimsSignIn, func(t string) bool { return strings.EqualFold(c.Typ, t) }):
			p.names = append(p.names, v)
		}
	}
	if p.ObjectID == "" && p.Name == "" {
		return Principal{}, false
	}
	return p, true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// api runs the api function.
func (h *handler) api(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	raw, ok := inv.data(bindReq)
	if !ok {
		return result{}, &requestError{http.StatusBadRequest, "the invocation has no Data.req"}
	}
	var req httpRequest
	if err := json.Unmarshal(unquote(raw, maxUnwrap), &req); err != nil {
		return result{}, &requestError{http.StatusBadRequest, "Data.req is not an HTTP request object"}
	}
	status, body := h.serveAPI(ctx, &req, log)
	log.Info("invocation done", slog.Int("status", status))
	contentType := "application/json"
	if page, ok := body.(htmlPage); ok {
		contentType, body = "text/html; charset=utf-8", string(page)
	}
	return result{
		outputs: map[string]any{bindRes: map[string]any{
			"statusCode": status,
			"headers":    map[string]string{"Content-Type": contentType},
			"body":       body,
		}},
		logs: []string{fnAPI + ": " + http.StatusText(status)},
	}, nil
}

func apiError(status int, msg string) (int, any) {
	return status, map[string]string{"error": msg}
}

// serveAPI answers one request with its status and body. Who may ask is
// decided first, from the request alone (authz.go); only then is anything
// looked up.
func (h *handler) serveAPI(ctx context.Context, req *httpRequest, log *slog.Logger) (int, any) {
	if no := h.auth.admit(); no != nil {
		log.Error("api: refused: the caller's identity cannot be trusted", slog.String("why", no.msg))
		return apiError(no.status, no.msg)
	}
	who, ok := req.principal()
	if !ok {
		log.Warn("api: request without an authenticated principal refused")
		return apiError(http.StatusUnauthorized, "authentication required: App Service authentication must vouch for the caller (X-MS-CLIENT-PRINCIPAL)")
	}
	log = log.With(slog.String("principalId", who.ObjectID), slog.String("principal", who.Name))
	if no := h.auth.authenticate(who); no != nil {
		log.Warn("api: principal refused", slog.String("why", no.msg), slog.String("idp", who.IdentityProvider), slog.String("tenant", who.TenantID))
		return apiError(no.status, no.msg)
	}
	id, action := req.route()
	if need := neededRole(action); !who.may(need) {
		log.Warn("api: principal without the role refused", slog.String("need", need), slog.Any("roles", who.Roles))
		return apiError(http.StatusForbidden, "this needs the app role "+need+"; ask an administrator of the exportguard enterprise application to assign it")
	}
	backend, ok := h.ing.(FindingsAPI)
	if !ok {
		return apiError(http.StatusServiceUnavailable, "the findings API is not configured")
	}
	method := strings.ToUpper(strings.TrimSpace(req.Method))
	switch {
	case isDashboard(req): // the dashboard function (dashboard.go)
		return h.dashboard(ctx, method, log)
	case method == http.MethodGet && id == "" && action == "":
		return h.listFindings(ctx, backend, req, log)
	case method == http.MethodGet && action == "":
		f, err := backend.GetFinding(ctx, id)
		if errors.Is(err, guard.ErrNotFound) {
			return apiError(http.StatusNotFound, "no finding with this ID")
		}
		if err != nil {
			log.Error("api: read finding", slog.String("error", err.Error()))
			return apiError(http.StatusInternalServerError, "the store could not be read")
		}
		plans, err := backend.RemediationPlans(ctx, f.ID)
		if err != nil {
			log.Error("api: read remediation plans", slog.String("error", err.Error()))
			return apiError(http.StatusInternalServerError, "the store could not be read")
		}
		return http.StatusOK, findingWithPlans{Finding: f, Plans: plans}
	case method == http.MethodGet && id != "" && (strings.EqualFold(action, "approve") || strings.EqualFold(action, "deny")):
		// The approve and deny links in Teams and Slack cards open here: a page
		// that asks for the reason and posts the decision.
		if status, body, ok := h.mayDecide(ctx, backend, who, id, strings.ToLower(action), log); !ok {
			return status, body
		}
		return http.StatusOK, confirmPage(id, strings.ToLower(action), who)
	case method == http.MethodPost && id != "" && (strings.EqualFold(action, "approve") || strings.EqualFold(action, "deny")):
		if !sameOrigin(req) {
			log.Warn("api: cross-origin decision refused", slog.String("origin", req.header("Origin")))
			return apiError(http.StatusForbidden, "a decision must be posted from this app's own pages")
		}
		return h.decide(ctx, backend, req, who, id, strings.ToLower(action), log)
	case method == http.MethodGet || method == http.MethodPost:
		if action != "" && !strings.EqualFold(action, "approve") && !strings.EqualFold(action, "deny") {
			return apiError(http.StatusNotFound, "no such action: use approve or deny")
		}
		return apiError(http.StatusMethodNotAllowed, "use GET /api/findings[/{id}] or POST /api/findings/{id}/approve|deny")
	}
	return apiError(http.StatusMethodNotAllowed, "method not allowed; use GET or POST")
}

// mayDecide applies separation of duties (DESIGN 3.7): the principal whose
// action caused the finding (its trigger.caller) may neither approve nor deny
// its remediation. ok is false with the answer to give when the finding cannot
// be read or the principal caused it.
func (h *handler) mayDecide(ctx context.Context, backend FindingsAPI, who Principal, id, action string, log *slog.Logger) (int, any, bool) {
	f, err := backend.GetFinding(ctx, id)
	if errors.Is(err, guard.ErrNotFound) {
		status, body := apiError(http.StatusNotFound, "no finding with this ID")
		return status, body, false
	}
	if err != nil {
		log.Error("api: read finding", slog.String("findingId", id), slog.String("error", err.Error()))
		status, body := apiError(http.StatusInternalServerError, "the store could not be read")
		return status, body, false
	}
	if causedBy(f.Trigger.Caller, who) {
		log.Warn("api: "+action+" refused: the principal caused the finding (separation of duties)",
			slog.String("findingId", id), slog.String("caller", f.Trigger.Caller))
		status, body := apiError(http.StatusForbidden, "separation of duties: the change that caused this finding was yours ("+
			f.Trigger.Caller+"), so another approver must decide its remediation")
		return status, body, false
	}
	return 0, nil, true
}

// findingWithPlans is a finding (DESIGN 3.4) with its remediation plans beside.
type findingWithPlans struct {
	*guard.Finding
	Plans any `json:"remediationPlans"`
}

func (h *handler) listFindings(ctx context.Context, backend FindingsAPI, req *httpRequest, log *slog.Logger) (int, any) {
	q := req.query()
	filter := guard.FindingFilter{Rule: strings.TrimSpace(q["rule"])}
	if s := strings.TrimSpace(q["status"]); s != "" {
		st := guard.Status(strings.ToLower(s))
		if !slices.Contains([]guard.Status{guard.StatusOpen, guard.StatusResolved, guard.StatusExempt}, st) {
			return apiError(http.StatusBadRequest, "status: want open, resolved or exempt")
		}
		filter.Status = st
	}
	if filter.Rule != "" && !slices.Contains(guard.RuleIDs, filter.Rule) && !guard.IsCustomRule(filter.Rule) {
		return apiError(http.StatusBadRequest, "rule: not a rule ID (DESIGN 3.3) or custom.<name>")
	}
	sub := strings.TrimSpace(q["subscription"])
	fs, err := backend.ListFindings(ctx, filter)
	if err != nil {
		log.Error("api: list findings", slog.String("error", err.Error()))
		return apiError(http.StatusInternalServerError, "the store could not be read")
	}
	out := make([]guard.Finding, 0, len(fs))
	for _, f := range fs {
		if sub == "" || strings.EqualFold(f.SubscriptionID, sub) {
			out = append(out, f)
		}
	}
	return http.StatusOK, out
}

func (h *handler) decide(ctx context.Context, backend FindingsAPI, req *httpRequest, who Principal, id, action string, log *slog.Logger) (int, any) {
	var body struct {
		Reason string `json:"reason"`
	}
	text := bytes.TrimSpace(unquote(req.Body, 1))
	switch {
	case strings.HasPrefix(strings.ToLower(req.header("Content-Type")), "application/x-www-form-urlencoded"):
		form, err := url.ParseQuery(string(text)) // the confirmation page's form
		if err != nil {
			return apiError(http.StatusBadRequest, "the form could not be read")
		}
		body.Reason = form.Get("reason")
	case len(text) == 0 || json.Unmarshal(text, &body) != nil:
		return apiError(http.StatusBadRequest, `the body must be JSON: {"reason": "why"}`)
	}
	reason := strings.TrimSpace(body.Reason)
	switch {
	case reason == "":
		return apiError(http.StatusBadRequest, "a reason is required")
	case len(reason) > maxReasonBytes:
		return apiError(http.StatusBadRequest, "the reason is too long")
	}
	if status, body, ok := h.mayDecide(ctx, backend, who, id, action, log); !ok {
		return status, body
	}
	decide := backend.Approve
	if action == "deny" {
		decide = backend.Deny
	}
	out, err := decide(ctx, id, who, reason)
	if err != nil {
		var ae *APIError
		switch {
		case errors.As(err, &ae):
			log.Info("api: "+action+" refused", slog.String("findingId", id), slog.Int("status", ae.Status), slog.String("why", ae.Message))
			return apiError(ae.Status, ae.Message)
		case errors.Is(err, guard.ErrNotFound):
			return apiError(http.StatusNotFound, "no remediation plan of this finding awaits approval")
		case errors.Is(err, guard.ErrConflict):
			return apiError(http.StatusConflict, "the remediation plan cannot be decided now")
		}
		log.Error("api: "+action, slog.String("findingId", id), slog.String("error", err.Error()))
		return apiError(http.StatusInternalServerError, "the decision could not be recorded")
	}
	decision := map[string]string{"approve": "approved", "deny": "denied"}[action]
	log.Info("api: remediation "+decision, slog.String("findingId", id))
	return http.StatusOK, map[string]any{"decision": decision, "plan": out}
}

// htmlPage is an answer that is a page for a person, not JSON.
type htmlPage string

// confirmPage asks the signed-in approver for a reason and posts the decision
// to the same URL. Nothing is decided by opening the link.
func confirmPage(id, action string, who Principal) htmlPage {
	verb := map[string]string{"approve": "Approve", "deny": "Deny"}[action]
	e := html.EscapeString
	return htmlPage(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + verb + ` remediation – exportguard</title></head>
<body><main><h1>` + verb + ` the remediation of finding ` + e(id) + `</h1>
<p>Signed in as ` + e(firstNonEmpty(who.Name, who.ObjectID)) + `. Your name and reason go on the audit trail.</p>
<form method="post"><label for="reason">Reason (change or licence reference)</label>
<input id="reason" name="reason" required maxlength="` + strconv.Itoa(maxReasonBytes) + `" autocomplete="off">
<button type="submit">` + verb + `</button></form></main></body></html>`)
}

// sameOrigin reports whether a browser's Origin (when it sent one) is this
// app's own host, so that a page elsewhere cannot post a decision with the
// approver's sign-in cookie. Clients that send no Origin (scripts, the CLI) pass.
func sameOrigin(req *httpRequest) bool {
	origin := strings.TrimSpace(req.header("Origin"))
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	u, err2 := url.Parse(req.URL)
	return err == nil && err2 == nil && o.Host != "" && strings.EqualFold(o.Host, u.Host)
}
