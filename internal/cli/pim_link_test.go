package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/recorder/recordertest"
)

// The role assignment Erin's PIM activation created is e4b1d6a2-…, linked by
// the originRoleAssignmentId of the schedule's instance; the schedule and the
// request are bb2de10c-…. The Activity Log and Event Grid report only the
// request.
const (
	pimLinkSchedule = "bb2de10c-9f82-430f-bef5-2d284ffef2bd"
	pimLinkRA       = "/subscriptions/" + remSub + "/resourceGroups/rg-itar-eng/providers/Microsoft.Authorization/roleAssignments/e4b1d6a2-7c3f-4e58-9a0d-3f6b8c21d947"
)

// Auto remediation of a PIM overstay deletes the role assignment the schedule's
// instance links, once, and nothing named after the schedule.
func TestReplayPIMOverstayRemovesTheLinkedRoleAssignment(t *testing.T) {
	t.Parallel()
	st := openSQLite(t, ":memory:")
	defer st.Close()
	writes := writesOf(replayInProcess(t, st, "testdata/sessions/remediation-access-auto.policy.yaml",
		"testdata/sessions/remediation-access-auto.ndjson", true))
	var toRA []string
	for _, w := range writes {
		if strings.Contains(w, "/Microsoft.Authorization/") {
			toRA = append(toRA, w)
		}
	}
	if len(toRA) != 1 || toRA[0] != "DELETE "+pimLinkRA {
		t.Errorf("writes to role assignments: %q, want one DELETE %s", toRA, pimLinkRA)
	}
	for _, w := range writes {
		if strings.Contains(w, "roleAssignments/"+pimLinkSchedule) {
			t.Errorf("write to a role assignment named after the schedule: %s", w)
		}
	}
	f, err := st.GetFinding(context.Background(), guard.FindingID(guard.RuleJITOverstay, pimLinkRA, ""))
	if err != nil {
		t.Fatalf("no access.jit-overstay finding on %s: %v", pimLinkRA, err)
	}
	if got := string(f.Status) + " " + f.Remediation.Status; got != "resolved applied" {
		t.Errorf("finding on the linked role assignment: %s, want resolved applied", got)
	}
	if from, _ := f.Evidence["roleAssignmentIdFrom"].(string); !strings.Contains(from, "originRoleAssignmentId of schedule instance") {
		t.Errorf("roleAssignmentIdFrom = %q, want the instance's link", from)
	}
}

// Replayed without remediation, the overstay is found on the linked role
// assignment in both clouds, where the assumed ID (the schedule's name) would
// have read as unknown and the overstay gone unseen.
func TestReplayPIMOverstayOnTheLinkedRoleAssignment(t *testing.T) {
	t.Parallel()
	tests := []struct{ session, ra string }{
		{"pim-overstay", pimLinkRA},
		{"gov-pim-overstay", "/subscriptions/b3e1c4d2-8a7f-4e6b-9c5d-2a1f3e4b6c80/providers/Microsoft.Authorization/roleAssignments/71c8e5b3-2d9a-4f46-b1e7-0a5c3d8f6e29"},
	}
	for _, tt := range tests {
		t.Run(tt.session, func(t *testing.T) {
			args := []string{"replay", "--format", "json"}
			if p := "testdata/sessions/" + tt.session + ".policy.yaml"; fileExists(p) {
				args = append(args, "--policy", p)
			}
			out, _, err := run(t, append(args, "testdata/sessions/"+tt.session+".ndjson")...)
			if err != nil {
				t.Fatal(err)
			}
			fs := recordertest.DecodeFindings(t, out)
			if len(fs) != 1 || fs[0]["rule"] != guard.RuleJITOverstay || fs[0]["resourceId"] != tt.ra || fs[0]["status"] != "resolved" {
				t.Fatalf("findings %v, want one resolved access.jit-overstay on %s", recordertest.Verdicts(fs), tt.ra)
			}
			ev, _ := fs[0]["evidence"].(map[string]any)
			if inst, _ := ev["scheduleInstanceId"].(string); !strings.Contains(inst, "/RoleAssignmentScheduleInstances/") {
				t.Errorf("evidence names no schedule instance: %v", ev)
			}
		})
	}
}
