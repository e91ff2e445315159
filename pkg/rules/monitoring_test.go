package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

const monSub = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a09"

// setting writes one subscription diagnostic setting as the list answers it.
func setting(name, ruleID, hub, logs string) string {
	props := `"logs":` + logs
	if ruleID != "" {
		props += `,"eventHubAuthorizationRuleId":"` + ruleID + `"`
	}
	if hub != "" {
		props += `,"eventHubName":"` + hub + `"`
	}
	return `{"id":"/subscriptions/` + monSub + `/providers/microsoft.insights/diagnosticSettings/` + name + `","type":"Microsoft.Insights/diagnosticSettings","name":"` + name + `","properties":{` + props + `}}`
}

func settingsList(settings ...string) *guard.Resource {
	id := guard.DiagnosticSettingsID(monSub)
	return &guard.Resource{ID: id, Type: guard.TypeDiagnosticSettings, ObservedAt: testNow,
		Body: []byte(`{"id":"` + id + `","type":"Microsoft.Insights/diagnosticSettings","value":[` + strings.Join(settings, ",") + `]}`)}
}

func TestActivityLogSettings(t *testing.T) {
	const (
		nsRule    = "/subscriptions/" + monSub + "/resourceGroups/rg-guard/providers/Microsoft.EventHub/namespaces/eh-guard/authorizationrules/RootManageSharedAccessKey"
		hubRule   = "/subscriptions/" + monSub + "/resourceGroups/rg-guard/providers/Microsoft.EventHub/namespaces/eh-guard/eventhubs/insights-activity-logs/authorizationrules/send"
		otherRule = "/subscriptions/" + monSub + "/resourceGroups/rg-siem/providers/Microsoft.EventHub/namespaces/eh-siem/authorizationrules/RootManageSharedAccessKey"
		admin     = `[{"category":"Administrative","enabled":true},{"category":"Security","enabled":false}]`
		noAdmin   = `[{"category":"Administrative","enabled":false},{"category":"Security","enabled":true}]`
		allLogs   = `[{"categoryGroup":"allLogs","enabled":true}]`
	)
	app := EventHub{Namespace: "eh-guard.servicebus.windows.net", Name: "insights-activity-logs"}
	gov := EventHub{Namespace: "eh-guard.servicebus.usgovcloudapi.net", Name: "insights-activity-logs"}
	for _, tc := range []struct {
		name      string
		hub       EventHub
		res       *guard.Resource
		violation bool
		want      string // in the message
	}{
		{"Administrative to the app's hub", app, settingsList(setting("to-guard", nsRule, "insights-activity-logs", admin)), false, "through diagnostic setting to-guard"},
		{"in Azure Government", gov, settingsList(setting("to-guard", nsRule, "insights-activity-logs", admin)), false, "eh-guard/insights-activity-logs"},
		{"the allLogs group", app, settingsList(setting("to-guard", nsRule, "insights-activity-logs", allLogs)), false, "to-guard"},
		{"the hub named by the rule", app, settingsList(setting("to-guard", hubRule, "", admin)), false, "to-guard"},
		{"no hub named: the default hub", app, settingsList(setting("to-guard", nsRule, "", admin)), false, "to-guard"},
		{"one good setting among others", app, settingsList(setting("to-siem", otherRule, "activity", admin), setting("to-guard", nsRule, "insights-activity-logs", admin)), false, "to-guard"},
		{"the app's hub not known: any hub", EventHub{}, settingsList(setting("to-siem", otherRule, "activity", admin)), false, "not known here"},
		{"no setting left", app, settingsList(), true, "has no diagnostic setting"},
		{"Administrative dropped", app, settingsList(setting("to-guard", nsRule, "insights-activity-logs", noAdmin)), true, "to-guard: Administrative not exported"},
		{"pointed at another namespace", app, settingsList(setting("to-guard", otherRule, "insights-activity-logs", admin)), true, "exports to eh-siem/insights-activity-logs"},
		{"pointed at another hub", app, settingsList(setting("to-guard", nsRule, "other-hub", admin)), true, "exports to eh-guard/other-hub"},
		{"a workspace only", app, settingsList(setting("to-law", "", "", admin)), true, "to-law: no Event Hub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := ActivityLog{Hub: tc.hub}.Evaluate(guard.Input{Policy: polUS, Resource: tc.res, Now: testNow})
			if len(vs) != 1 {
				t.Fatalf("%d verdicts, want 1: %+v", len(vs), vs)
			}
			v := vs[0]
			if v.Violation != tc.violation || !strings.Contains(v.Message, tc.want) {
				t.Errorf("violation %v, message %q; want violation %v and %q", v.Violation, v.Message, tc.violation, tc.want)
			}
			if v.ResourceID != "/subscriptions/"+monSub || v.GrantID != grantDiagnosticSettings {
				t.Errorf("verdict on %s (%s), want the subscription's settings finding", v.ResourceID, v.GrantID)
			}
		})
	}
	t.Run("a resource's own setting is not judged", func(t *testing.T) {
		res := &guard.Resource{ID: "/subscriptions/" + monSub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv/providers/microsoft.insights/diagnosticSettings/x",
			Type: guard.TypeDiagnosticSettings, Body: []byte(`{"properties":{}}`)}
		if vs := (ActivityLog{Hub: app}).Evaluate(guard.Input{Policy: polUS, Resource: res, Now: testNow}); len(vs) != 0 {
			t.Errorf("verdicts %+v, want none", vs)
		}
	})
}

func TestActivityLogSilence(t *testing.T) {
	pol := func(silence time.Duration) *guard.Policy {
		return &guard.Policy{Rules: map[string]guard.RulePolicy{guard.RuleMonitoringActivityLog: {Mode: guard.ModeAlert, Silence: guard.Duration(silence)}}}
	}
	heard := testNow.Add(-30 * time.Hour)
	for _, tc := range []struct {
		name     string
		pol      *guard.Policy
		h        guard.Heard
		now      time.Time
		verdicts int
		violates bool
		want     string
	}{
		{"a record arrives", pol(0), guard.Heard{SubscriptionID: monSub, At: testNow}, testNow, 1, false, "arrive from subscription"},
		{"heard within the default 24h", pol(0), guard.Heard{SubscriptionID: monSub, At: testNow.Add(-23 * time.Hour)}, testNow, 0, false, ""},
		{"silent longer than the default 24h", pol(0), guard.Heard{SubscriptionID: monSub, At: heard}, testNow, 1, true, "longer than the 24h0m0s allowed"},
		{"within the policy's 48h", pol(48 * time.Hour), guard.Heard{SubscriptionID: monSub, At: heard}, testNow, 0, false, ""},
		{"past silence, within the slack", pol(0), guard.Heard{SubscriptionID: monSub, At: testNow.Add(-24*time.Hour - 10*time.Minute), Slack: 15 * time.Minute}, testNow, 0, false, ""},
		{"past silence and the slack", pol(0), guard.Heard{SubscriptionID: monSub, At: testNow.Add(-24*time.Hour - 16*time.Minute), Slack: 15 * time.Minute}, testNow, 1, true, "since 2026-11-01T08:44:00Z"},
		{"never heard since watching", pol(time.Hour), guard.Heard{SubscriptionID: monSub, At: heard, Watching: true}, testNow, 1, true, "since the guard began watching it"},
		{"watching began just now", pol(time.Hour), guard.Heard{SubscriptionID: monSub, At: testNow, Watching: true}, testNow, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := ActivityLog{}.Silence(guard.Input{Policy: tc.pol, Now: tc.now}, tc.h)
			if len(vs) != tc.verdicts {
				t.Fatalf("%d verdicts, want %d: %+v", len(vs), tc.verdicts, vs)
			}
			if len(vs) == 0 {
				return
			}
			if v := vs[0]; v.Violation != tc.violates || !strings.Contains(v.Message, tc.want) || v.GrantID != grantSilence {
				t.Errorf("violation %v, grant %q, message %q; want violation %v and %q", v.Violation, v.GrantID, v.Message, tc.violates, tc.want)
			}
		})
	}
}
