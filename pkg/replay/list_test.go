package replay

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/session"
)

// A session lists as ARM would have at the replay clock: the instances of a
// schedule, by the property that names it, as they stood then.
func TestARMListsAtTheClock(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 4, h, 0, 0, 0, time.UTC) }
	const scope = "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-itar-eng"
	sched := func(n string) string {
		return scope + "/providers/Microsoft.Authorization/RoleAssignmentSchedules/" + n
	}
	inst := func(n, schedule, ra string) (string, []byte) {
		id := scope + "/providers/Microsoft.Authorization/RoleAssignmentScheduleInstances/" + n
		return id, []byte(fmt.Sprintf(`{"id":%q,"type":"Microsoft.Authorization/RoleAssignmentScheduleInstances","properties":`+
			`{"roleAssignmentScheduleId":%q,"originRoleAssignmentId":%q}}`, id, schedule, scope+"/providers/Microsoft.Authorization/roleAssignments/"+ra))
	}
	clock := at(10)
	a := NewARM(func() time.Time { return clock })
	id1, b1 := inst("i1", sched("s1"), "ra1")
	id2, b2 := inst("i2", sched("s2"), "ra2")
	id3, b3 := inst("i3", sched("s1"), "ra3")
	a.Observe(session.Line{Source: session.SourceARM, At: at(11), ID: id1, Body: b1})
	a.Observe(session.Line{Source: session.SourceARM, At: at(11), ID: id2, Body: b2})
	a.Observe(session.Line{Source: session.SourceARM, At: at(12), ID: id3, Body: b3})
	a.Observe(session.Line{Source: session.SourceARM, At: at(13), ID: id1, Deleted: true, Body: []byte(`{"id":"` + id1 + `"}`)})

	q := guard.ListQuery{Scope: scope, Type: "Microsoft.Authorization/roleAssignmentScheduleInstances",
		Property: "roleAssignmentScheduleId", Equals: "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70/resourceGroups/rg-itar-eng/providers/Microsoft.Authorization/roleAssignmentSchedules/S1"}
	tests := []struct {
		clock   time.Time
		q       guard.ListQuery
		want    []string
		unknown bool
	}{
		{clock: at(10), q: q, unknown: true},                    // no line of the type yet: never listed
		{clock: at(11), q: q, want: []string{guard.IDKey(id1)}}, // the other schedule's instance is not listed
		{clock: at(12), q: q, want: []string{guard.IDKey(id1), guard.IDKey(id3)}},
		{clock: at(13), q: q, want: []string{guard.IDKey(id3)}}, // i1 deleted
		{clock: at(13), q: guard.ListQuery{Scope: q.Scope, Type: q.Type, Property: q.Property, Equals: sched("s9")}, want: nil},
		{clock: at(13), q: guard.ListQuery{Scope: "/subscriptions/other", Type: q.Type, Property: q.Property, Equals: q.Equals}, unknown: true},
	}
	for i, tt := range tests {
		clock = tt.clock
		rs, err := a.List(context.Background(), tt.q)
		if tt.unknown {
			if !errors.Is(err, guard.ErrUnknown) {
				t.Errorf("%d: err = %v, want ErrUnknown", i, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		var got []string
		for _, r := range rs {
			got = append(got, guard.IDKey(r.ID))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%d at %s: listed %v, want %v", i, tt.clock.Format(time.Kitchen), got, tt.want)
		}
	}
}
