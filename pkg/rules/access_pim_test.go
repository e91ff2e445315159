package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The spec's PIM bodies (S17): schedule c9e264ff-… for principal a3bb8764-…
// (Contributor, per the example's expandedProperties) at subscription
// dfa2a084-…, 2020-09-09T21:35:27.91Z to 2020-09-10T05:35:17.91Z; the request
// fea7a502-… (SelfActivate, Provisioned, PT8H) naming target schedule
// b1477448-…; the role assignment b0f43c54-… of principal ce2ce14e-….
const (
	pimSub       = "dfa2a084-766f-4003-8ae1-c4aeb893a99f"
	pimPrincipal = "a3bb8764-cb92-4276-9d2a-ca1e895e55ea"
	pimSchedule  = "c9e264ff-3133-4776-a81a-ebc7c33c8ec6"
	pimRA        = "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/" + pimSchedule
	raSpecID     = "/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2/providers/Microsoft.Authorization/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747"
	raPrincipal  = "ce2ce14e-85d7-4629-bdbc-454d0519d987"
)

func TestPIMScheduleGivesAGrantOnItsRoleAssignment(t *testing.T) {
	if !(PIMOverstay{}).Applies("Microsoft.Authorization/RoleAssignmentSchedules") || !(PIMOverstay{}).Applies(TypeRoleAssignmentScheduleRequest) ||
		(PIMOverstay{}).Applies(TypeRoleAssignment) {
		t.Fatal("PIMOverstay must apply to schedules and requests however ARM cases them, and not to role assignments")
	}
	res := accessRes(t, accessDoc(t, "role_assignment_schedule_get.json"), time.Time{})
	gs := PIMOverstay{}.Grants(guard.Input{Policy: accessTestPolicy(0, 5*time.Minute), Resource: res})
	if len(gs) != 1 {
		t.Fatalf("got %d grants, want 1", len(gs))
	}
	g := gs[0]
	if g.Kind != GrantKindPIM || g.ResourceID != pimRA || g.PrincipalID != pimPrincipal ||
		!g.Start.Equal(accessMustTime(t, "2020-09-09T21:35:27.91Z")) || !g.End.Equal(accessMustTime(t, "2020-09-10T05:40:17.91Z")) {
		t.Errorf("grant %+v: want kind pim on %s for %s, due at endDateTime + 5m", g, pimRA, pimPrincipal)
	}
	var d pimDetails
	if err := json.Unmarshal(g.Details, &d); err != nil || d.Role != "Contributor" || d.Scope != "/subscriptions/"+pimSub ||
		!strings.Contains(d.ScheduleID, pimSchedule) || !strings.Contains(d.RequestID, "fea7a502") || d.Grace != "5m" {
		t.Errorf("details %s (%v)", g.Details, err)
	}
	if guard.SubscriptionOf(g.ResourceID) != pimSub {
		t.Errorf("the role assignment ID %s must name its subscription (findings and scope read it)", g.ResourceID)
	}
}

func TestPIMRoleAssignmentFromOriginRoleAssignmentID(t *testing.T) {
	// A body that names its role assignment (a schedule instance's
	// originRoleAssignmentId) is believed over the schedule's name.
	inst := accessDoc(t, "role_assignment_schedule_instance_get.json")
	sched := accessDoc(t, "role_assignment_schedule_get.json")
	accessObj(sched, "properties")["originRoleAssignmentId"] = accessObj(inst, "properties")["originRoleAssignmentId"]
	a, ok := pimAssignmentOf(guard.Input{Resource: accessRes(t, sched, time.Time{})})
	want := "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/ed9b8180-cef7-4c77-a63c-b8566ecfc412"
	if !ok || a.RoleAssignmentID != want || a.RoleAssignmentFrom != "properties.originRoleAssignmentId" {
		t.Errorf("got %q from %q, want %s", a.RoleAssignmentID, a.RoleAssignmentFrom, want)
	}
}

func TestPIMPermanentScheduleHasNoGrant(t *testing.T) {
	sched := accessDoc(t, "role_assignment_schedule_get.json")
	delete(accessObj(sched, "properties"), "endDateTime")
	if gs := (PIMOverstay{}).Grants(guard.Input{Policy: accessTestPolicy(0, 0), Resource: accessRes(t, sched, time.Time{})}); len(gs) != 0 {
		t.Errorf("a permanent assignment has nothing to overstay, got %+v", gs)
	}
}

func TestPIMRequestLeadsToItsSchedule(t *testing.T) {
	reqBody := accessDoc(t, "role_assignment_schedule_request_get.json")
	req := accessRes(t, reqBody, time.Time{})
	target := "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignmentSchedules/b1477448-2cc6-4ceb-93b4-54a202a89413"
	if rel := (PIMOverstay{}).Related(req, nil); len(rel) != 1 || rel[0] != target {
		t.Fatalf("Related = %v, want the target schedule %s", rel, target)
	}
	pol := accessTestPolicy(0, 5*time.Minute)

	// The schedule was read: it is the truth.
	sched := accessDoc(t, "role_assignment_schedule_get.json")
	sched["id"], sched["name"] = target, "b1477448-2cc6-4ceb-93b4-54a202a89413"
	in := guard.Input{Policy: pol, Resource: req, Related: accessWorld(accessRes(t, sched, time.Time{}))}
	gs := PIMOverstay{}.Grants(in)
	if len(gs) != 1 || !strings.HasSuffix(gs[0].ResourceID, "/roleAssignments/b1477448-2cc6-4ceb-93b4-54a202a89413") ||
		!gs[0].End.Equal(accessMustTime(t, "2020-09-10T05:40:17.91Z")) {
		t.Errorf("from the schedule: %+v", gs)
	}

	// The schedule could not be read: the provisioned request's own schedule
	// info (PT8H from 21:35:27.91Z) stands in.
	in.Related = map[string]*guard.Resource{guard.IDKey(target): {ID: target, Deleted: true}}
	gs = PIMOverstay{}.Grants(in)
	if len(gs) != 1 || !strings.HasSuffix(gs[0].ResourceID, "/roleAssignments/b1477448-2cc6-4ceb-93b4-54a202a89413") ||
		!gs[0].End.Equal(accessMustTime(t, "2020-09-10T05:40:27.91Z")) {
		t.Errorf("from the request: %+v", gs)
	}

	for name, vary := range map[string]func(p map[string]any){
		"deactivation": func(p map[string]any) { p["requestType"] = "SelfDeactivate" },
		"removal":      func(p map[string]any) { p["requestType"] = "AdminRemove" },
		"pending":      func(p map[string]any) { p["status"] = "PendingApproval" },
	} {
		body := accessDoc(t, "role_assignment_schedule_request_get.json")
		vary(accessObj(body, "properties"))
		r := accessRes(t, body, time.Time{})
		in := guard.Input{Policy: pol, Resource: r, Related: accessGather(PIMOverstay{}, r, nil)}
		if gs := (PIMOverstay{}).Grants(in); len(gs) != 0 {
			t.Errorf("%s request: got grants %+v", name, gs)
		}
	}
}

func TestPIMOverstayCheck(t *testing.T) {
	res := accessRes(t, accessDoc(t, "role_assignment_schedule_get.json"), time.Time{})
	pol := accessTestPolicy(0, 5*time.Minute)
	g := PIMOverstay{}.Grants(guard.Input{Policy: pol, Resource: res})[0]
	ra := accessDoc(t, "role_assignment_get.json")
	ra["id"], ra["name"] = pimRA, pimSchedule
	now := accessMustTime(t, "2020-09-10T05:45:00Z")

	vs := PIMOverstay{}.CheckGrant(g, guard.Input{Policy: pol, Resource: accessRes(t, ra, now), Now: now})
	if len(vs) != 1 || !vs[0].Violation || vs[0].ResourceID != pimRA || vs[0].Rule != guard.RuleJITOverstay ||
		vs[0].Action != "remove role assignment "+pimRA ||
		!strings.Contains(vs[0].Message, "still gives User Account <user@my-tenant.com> the Contributor role at /subscriptions/"+pimSub) {
		t.Errorf("role assignment still there: %+v", vs)
	}
	for _, k := range []string{"scheduleId", "endDateTime", "grace", "mustBeGoneBy", "principalId"} {
		if v := vs[0].Evidence[k]; v == nil || v == "" {
			t.Errorf("evidence lacks %s: %v", k, vs[0].Evidence)
		}
	}
	vs = PIMOverstay{}.CheckGrant(g, guard.Input{Policy: pol, Resource: &guard.Resource{ID: pimRA, Deleted: true}, Now: now})
	if len(vs) != 1 || vs[0].Violation || vs[0].ResourceID != pimRA || !strings.Contains(vs[0].Message, "is gone") {
		t.Errorf("role assignment gone: %+v", vs)
	}
}

func TestUnscreenedPrincipal(t *testing.T) {
	ra := accessRes(t, accessDoc(t, "role_assignment_get.json"), time.Time{})
	sched := accessRes(t, accessDoc(t, "role_assignment_schedule_get.json"), time.Time{})
	tests := []struct {
		name          string
		res           *guard.Resource
		roster        []string
		wantVerdicts  int
		wantViolation bool
		wantOn        string
	}{
		{"no roster: nothing to say", ra, nil, 0, false, ""},
		{"role assignment to a screened principal", ra, []string{"11111111-2222-3333-4444-555555555555", raPrincipal}, 1, false, raSpecID},
		{"screened, written upper case without dashes", ra, []string{strings.ToUpper(strings.ReplaceAll(raPrincipal, "-", ""))}, 1, false, raSpecID},
		{"role assignment to an unscreened principal", ra, []string{pimPrincipal}, 1, true, raSpecID},
		{"PIM schedule for an unscreened principal", sched, []string{raPrincipal}, 1, true, pimRA},
		{"PIM schedule for a screened principal", sched, []string{pimPrincipal}, 1, false, pimRA},
		{"deleted role assignment", &guard.Resource{ID: raSpecID, Type: TypeRoleAssignment, Deleted: true}, []string{pimPrincipal}, 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := accessTestPolicy(0, 0, tt.roster...)
			vs := UnscreenedPrincipal{}.Evaluate(guard.Input{Policy: pol, Resource: tt.res, Related: accessGather(UnscreenedPrincipal{}, tt.res, nil)})
			if len(vs) != tt.wantVerdicts {
				t.Fatalf("got %d verdicts, want %d: %+v", len(vs), tt.wantVerdicts, vs)
			}
			if len(vs) == 0 {
				return
			}
			v := vs[0]
			if v.Violation != tt.wantViolation || v.ResourceID != tt.wantOn || v.Rule != guard.RuleUnscreenedPrincipal {
				t.Errorf("verdict %+v: want violation=%v on %s", v, tt.wantViolation, tt.wantOn)
			}
			if v.Violation && (v.Action != "remove role assignment "+tt.wantOn || !strings.Contains(v.Message, "not on the screened-persons roster")) {
				t.Errorf("message %q action %q", v.Message, v.Action)
			}
			if v.Evidence["principalId"] == "" || v.Evidence["onRoster"] != !v.Violation {
				t.Errorf("evidence %v", v.Evidence)
			}
		})
	}
	if !(UnscreenedPrincipal{}).Applies("microsoft.authorization/ROLEASSIGNMENTS") || (UnscreenedPrincipal{}).Applies(TypeJITPolicy) {
		t.Error("Applies: role assignments, schedules and requests only")
	}
}

func TestUnscreenedPrincipalOfARequestNamesItsRoleAssignment(t *testing.T) {
	req := accessRes(t, accessDoc(t, "role_assignment_schedule_request_get.json"), time.Time{})
	pol := accessTestPolicy(0, 0, raPrincipal)
	vs := UnscreenedPrincipal{}.Evaluate(guard.Input{Policy: pol, Resource: req, Related: accessGather(UnscreenedPrincipal{}, req, nil)})
	want := "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/b1477448-2cc6-4ceb-93b4-54a202a89413"
	if len(vs) != 1 || !vs[0].Violation || vs[0].ResourceID != want || vs[0].Evidence["judgedFrom"] == nil {
		t.Errorf("got %+v, want a violation on %s", vs, want)
	}
}

func TestPIMScopeAndRoleNames(t *testing.T) {
	for in, want := range map[string]string{
		"/providers/Microsoft.Subscription/subscriptions/" + pimSub: "/subscriptions/" + pimSub,
		"providers/microsoft.subscription/subscriptions/" + pimSub:  "/subscriptions/" + pimSub,
		"/subscriptions/" + pimSub + "/resourceGroups/rg/":          "/subscriptions/" + pimSub + "/resourceGroups/rg",
		"": "",
	} {
		if got := pimScope(in); got != want {
			t.Errorf("pimScope(%q) = %q, want %q", in, got, want)
		}
	}
	if got := accessRoleName("/providers/Microsoft.Authorization/roleDefinitions/B24988AC-6180-42A0-AB88-20F7382DD24C"); got != "Contributor" {
		t.Errorf("Contributor's GUID names %q", got)
	}
}

func TestAccessRulesTolerateOddInput(t *testing.T) {
	pol := accessTestPolicy(time.Hour, time.Minute, pimPrincipal)
	odd := []json.RawMessage{nil, json.RawMessage(`{}`), json.RawMessage(`[]`), json.RawMessage(`"x"`),
		json.RawMessage(`{"properties":{"principalId":42,"requests":{}}}`)}
	for _, body := range odd {
		for _, typ := range []string{TypeJITPolicy, TypeRoleAssignment, TypeRoleAssignmentSchedule, TypeRoleAssignmentScheduleRequest, accessTypeVM} {
			res := &guard.Resource{ID: "/subscriptions/s/providers/x/y/z", Type: typ, Body: body}
			in := guard.Input{Policy: pol, Resource: res, Related: map[string]*guard.Resource{}}
			for _, r := range accessRules() {
				if !r.Applies(typ) {
					continue
				}
				r.Evaluate(in)
				if gr, ok := r.(guard.GrantRule); ok {
					gr.Grants(in)
					gr.CheckGrant(guard.Grant{ID: "g", Kind: gr.GrantKind(), ResourceID: res.ID, Details: body}, in)
				}
				if ga, ok := r.(guard.Gatherer); ok {
					ga.Related(res, in.Related)
				}
			}
		}
	}
	// A due grant whose details were lost still gets a verdict on its resource.
	vs := JITOverstay{}.CheckGrant(guard.Grant{ID: "access.jit-overstay/jit-x", ResourceID: specVM},
		guard.Input{Policy: pol, Resource: &guard.Resource{ID: specVM, Type: accessTypeVM, Body: json.RawMessage(`{}`)}})
	if len(vs) != 1 || vs[0].Violation || vs[0].GrantID != "jit-x" {
		t.Errorf("got %+v", vs)
	}
}

// The spec's schedule instance (testdata/access/role_assignment_schedule_instance_get.json,
// GetRoleAssignmentScheduleInstanceByName.json) links schedule c9e264ff-… to role
// assignment ed9b8180-… by originRoleAssignmentId: the grant, its check and the
// roster verdict are on that role assignment, never on one named after the
// schedule; an instance that links none gives nothing to guess from.
func TestPIMScheduleInstanceLinksItsRoleAssignment(t *testing.T) {
	const linked = "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/ed9b8180-cef7-4c77-a63c-b8566ecfc412"
	tests := []struct {
		name   string
		edit   func(m map[string]any)
		wantRA string // "" for no grant
	}{
		{"spec example", func(map[string]any) {}, linked},
		{"instance type as ARM cases it in a list", func(m map[string]any) { m["type"] = "microsoft.authorization/roleassignmentscheduleinstances" }, linked},
		{"origin in the Microsoft.Subscription form", func(m map[string]any) {
			accessObj(m, "properties")["originRoleAssignmentId"] = "/providers/Microsoft.Subscription/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/ed9b8180-cef7-4c77-a63c-b8566ecfc412"
		}, linked},
		{"no originRoleAssignmentId: no grant", func(m map[string]any) { delete(accessObj(m, "properties"), "originRoleAssignmentId") }, ""},
	}
	pol := accessTestPolicy(0, 5*time.Minute, "00000000-0000-0000-0000-000000000001")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := accessDoc(t, "role_assignment_schedule_instance_get.json")
			tt.edit(doc)
			res := accessRes(t, doc, time.Time{})
			if !(PIMOverstay{}).Applies(res.Type) || !(UnscreenedPrincipal{}).Applies(res.Type) {
				t.Fatalf("PIMOverstay and UnscreenedPrincipal must judge schedule instances (%s)", res.Type)
			}
			gs := PIMOverstay{}.Grants(guard.Input{Policy: pol, Resource: res})
			vs := UnscreenedPrincipal{}.Evaluate(guard.Input{Policy: pol, Resource: res})
			if tt.wantRA == "" {
				if len(gs) != 0 || len(vs) != 0 {
					t.Fatalf("grants %+v, verdicts %+v: want none", gs, vs)
				}
				return
			}
			if len(gs) != 1 || gs[0].ResourceID != tt.wantRA || gs[0].PrincipalID != pimPrincipal ||
				!gs[0].End.Equal(accessMustTime(t, "2020-09-10T05:40:17.91Z")) {
				t.Fatalf("grants %+v: want one on %s due at endDateTime + 5m", gs, tt.wantRA)
			}
			var d map[string]any
			if err := json.Unmarshal(gs[0].Details, &d); err != nil || !strings.HasSuffix(fmt.Sprint(d["scheduleId"]), pimSchedule) ||
				d["linkedRoleEligibilityScheduleId"] != "b1477448-2cc6-4ceb-93b4-54a202a89413" ||
				!strings.HasPrefix(fmt.Sprint(d["roleAssignmentIdFrom"]), "properties.originRoleAssignmentId") {
				t.Errorf("details %s (%v): want the schedule, the linked eligibility and the link named", gs[0].Details, err)
			}
			// The sweep's check names the linked role assignment, and removes it.
			cv := PIMOverstay{}.CheckGrant(gs[0], guard.Input{Policy: pol, Resource: &guard.Resource{ID: tt.wantRA, Type: TypeRoleAssignment, Body: []byte(`{}`)}})
			if len(cv) != 1 || !cv[0].Violation || cv[0].ResourceID != tt.wantRA || cv[0].Action != "remove role assignment "+tt.wantRA {
				t.Errorf("check %+v: want a violation removing %s", cv, tt.wantRA)
			}
			if len(vs) != 1 || !vs[0].Violation || vs[0].ResourceID != tt.wantRA {
				t.Errorf("roster verdicts %+v: want one violation on %s", vs, tt.wantRA)
			}
		})
	}
}
