package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The spec's instance (GetRoleAssignmentScheduleInstanceByName.json) of
// schedule c9e264ff-… links role assignment ed9b8180-…: not the schedule's name.
const pimLinkedRA = "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/ed9b8180-cef7-4c77-a63c-b8566ecfc412"

// A schedule, or a request through its schedule, finds the role assignment the
// activation created through the schedule's instance, listed by
// roleAssignmentScheduleId; the schedule's name is assumed only when no
// instance links one, and the evidence says which.
func TestPIMGrantOnTheRoleAssignmentItsInstanceLinks(t *testing.T) {
	pol := accessTestPolicy(0, 5*time.Minute, raPrincipal)
	const target = "b1477448-2cc6-4ceb-93b4-54a202a89413" // the request example's schedule
	targetID := "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + target
	instance := func(schedule string) *guard.Resource {
		b := accessDoc(t, "role_assignment_schedule_instance_get.json")
		if schedule != "" {
			accessObj(b, "properties")["roleAssignmentScheduleId"] = schedule
		}
		return accessRes(t, b, time.Time{})
	}
	sched := accessRes(t, accessDoc(t, "role_assignment_schedule_get.json"), time.Time{})
	req := accessRes(t, accessDoc(t, "role_assignment_schedule_request_get.json"), time.Time{})
	readSched := accessDoc(t, "role_assignment_schedule_get.json")
	readSched["id"], readSched["name"] = targetID, target
	reqWorld := accessWorld(accessRes(t, readSched, time.Time{}))
	otherSchedule := "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/RoleAssignmentSchedules/0a1b2c3d-0000-4000-8000-000000000000"
	tests := []struct {
		name     string
		res      *guard.Resource
		world    map[string]*guard.Resource // what gathering reads (nil: nothing, the schedule is gone)
		listed   []*guard.Resource          // the list's answer; nil: not listed
		wantRA   string
		wantFrom string
	}{
		{"schedule, instances not listed", sched, nil, nil, pimRA, pimAssumedFrom},
		// The schedule's ID is PIM's /providers/Microsoft.Subscription/… form;
		// the instance names it as /subscriptions/….
		{"schedule, its instance listed", sched, nil, []*guard.Resource{instance("")}, pimLinkedRA, "schedule instance ed9b8180"},
		{"schedule, only another schedule's instance listed", sched, nil, []*guard.Resource{instance(otherSchedule)}, pimRA, pimAssumedListedFrom},
		{"schedule, no instance", sched, nil, []*guard.Resource{}, pimRA, pimAssumedListedFrom},
		{"request, its schedule read, instance listed", req, reqWorld, []*guard.Resource{instance(targetID)}, pimLinkedRA, "schedule instance ed9b8180"},
		{"request alone, instance listed", req, nil, []*guard.Resource{instance(strings.Replace(targetID, "roleAssignmentSchedules", "RoleAssignmentSchedules", 1))}, pimLinkedRA, "listed by roleAssignmentScheduleId"},
		{"request alone, not listed", req, nil, nil, "/subscriptions/" + pimSub + "/providers/Microsoft.Authorization/roleAssignments/" + target, pimAssumedFrom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			qs := PIMOverstay{}.Lists(tt.res)
			if len(qs) != 1 || qs[0].Type != TypeRoleAssignmentScheduleInstance || qs[0].Property != "roleAssignmentScheduleId" ||
				qs[0].Scope != "/subscriptions/"+pimSub || !strings.HasPrefix(qs[0].Equals, "/subscriptions/"+pimSub+"/providers/Microsoft.Authorization/") {
				t.Fatalf("Lists = %+v, want the schedule's instances at its scope", qs)
			}
			if u := (UnscreenedPrincipal{}).Lists(tt.res); len(u) != 1 || u[0] != qs[0] {
				t.Errorf("UnscreenedPrincipal lists %+v, want %+v", u, qs)
			}
			in := guard.Input{Policy: pol, Resource: tt.res, Related: accessGather(PIMOverstay{}, tt.res, tt.world)}
			if tt.listed != nil {
				in.Listed = map[guard.ListQuery][]*guard.Resource{qs[0]: tt.listed}
			}
			gs := PIMOverstay{}.Grants(in)
			if len(gs) != 1 {
				t.Fatalf("got %d grants, want 1", len(gs))
			}
			var d pimDetails
			accessUnmarshal(t, gs[0].Details, &d)
			if gs[0].ResourceID != tt.wantRA || gs[0].ID != pimGrantID(tt.wantRA) || !strings.Contains(d.RoleAssignmentFrom, tt.wantFrom) {
				t.Errorf("grant on %s from %q, want on %s from %q", gs[0].ResourceID, d.RoleAssignmentFrom, tt.wantRA, tt.wantFrom)
			}
			if linked := tt.wantRA == pimLinkedRA; linked != (d.InstanceID != "") {
				t.Errorf("scheduleInstanceId %q", d.InstanceID)
			}
			// The sweep's check of the grant, and its remediation, act on the
			// linked role assignment.
			now := accessMustTime(t, "2020-09-10T06:00:00Z")
			ra := accessDoc(t, "role_assignment_get.json")
			ra["id"] = tt.wantRA
			vs := PIMOverstay{}.CheckGrant(gs[0], guard.Input{Policy: pol, Resource: accessRes(t, ra, now), Now: now})
			if len(vs) != 1 || !vs[0].Violation || vs[0].ResourceID != tt.wantRA || vs[0].Action != "remove role assignment "+tt.wantRA ||
				!strings.Contains(vs[0].Evidence["roleAssignmentIdFrom"].(string), tt.wantFrom) {
				t.Errorf("check: %+v", vs)
			}
			// access.unscreened-principal names the same role assignment.
			us := UnscreenedPrincipal{}.Evaluate(in)
			if len(us) != 1 || us[0].ResourceID != tt.wantRA {
				t.Errorf("unscreened-principal verdicts %+v, want one on %s", us, tt.wantRA)
			}
		})
	}
}

func accessUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
