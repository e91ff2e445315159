package guard

import (
	"testing"
	"time"
)

// A change's record is one object: the change's facts, then its transitions
// and verdicts (empty lists, not absent, when there are none), so that every
// record of a kind has one shape (audit_record.go).
func TestChangeRecordData(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	c := Change{ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a",
		Operation: "Microsoft.Storage/storageAccounts/write", Source: SourceEventHub, EventID: "al-1",
		CorrelationID: "c<1>&", Caller: "ana@contoso.com", EventTime: at}
	for _, tc := range []struct {
		name string
		u    func() *unit
		part string
		want string
	}{
		{"change, nothing judged", func() *unit { return newChangeUnit(c, at) }, "",
			`{"caller":"ana@contoso.com","correlationId":"c\u003c1\u003e\u0026","eventId":"al-1","eventTime":"2026-03-01T10:00:00.123456789Z","operation":"Microsoft.Storage/storageAccounts/write","source":"eventhub","transitions":[],"verdicts":[]}`},
		{"change with a verdict and a transition", func() *unit {
			u := newChangeUnit(c, at)
			u.verdict(Verdict{Rule: "residency.location", ResourceID: c.ResourceID, Violation: true, Message: "in westus"})
			u.transition(Finding{ID: "f1", Rule: "residency.location", ResourceID: c.ResourceID, Status: StatusOpen, Trigger: u.trig}, "", "in westus")
			return u
		}, "",
			`{"caller":"ana@contoso.com","correlationId":"c\u003c1\u003e\u0026","eventId":"al-1","eventTime":"2026-03-01T10:00:00.123456789Z","operation":"Microsoft.Storage/storageAccounts/write","source":"eventhub",` +
				`"transitions":[{"findingId":"f1","rule":"residency.location","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a","from":"","to":"open","message":"in westus","trigger":{"source":"eventhub","eventId":"al-1","correlationId":"c\u003c1\u003e\u0026","caller":"ana@contoso.com"}}],` +
				`"verdicts":[{"eventId":"al-1","grantId":"","message":"in westus","resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a","rule":"residency.location","violation":true}]}`},
		{"sweep", func() *unit {
			u := newSweepUnit(Trigger{Source: SourceTimer, EventID: "sweep-2026-03-01T10:00:00Z"}, c.ResourceID, at)
			u.part(c.ResourceID)
			return u
		}, "",
			`{"eventId":"sweep-2026-03-01T10:00:00Z","source":"timer","transitions":[],"verdicts":[]}`},
	} {
		u := tc.u()
		pa := u.parts[u.own]
		if pa == nil {
			pa = &partitionAudit{Transitions: []AuditTransition{}, Verdicts: []AuditVerdict{}}
		}
		got, err := recordData(u.facts, pa)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%s: data\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}
}
