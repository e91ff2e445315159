package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/rules"
)

// The hub the app listens on comes from its settings, and replay judges the
// diagnostic settings against it: a setting exporting Administrative to
// another namespace or hub is a finding; one exporting to the app's hub is not.
func TestReplayJudgesSettingsAgainstTheAppsHub(t *testing.T) {
	t.Parallel()
	const good = "/subscriptions/5e3b9c4a-7d6f-4a01-9c8e-3f4a5b6c7d82" // exports to eh-exportguard/insights-activity-logs
	for _, tc := range []struct {
		name     string
		env      map[string]string
		open     bool
		inReason string
	}{
		{"the app's hub", map[string]string{"ActivityLogEventHub__fullyQualifiedNamespace": "eh-exportguard.servicebus.windows.net", "ActivityLogEventHubName": "insights-activity-logs"}, false, "eh-exportguard/insights-activity-logs"},
		{"a connection string's endpoint", map[string]string{"ActivityLogEventHub": "Endpoint=sb://eh-exportguard.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0", "ActivityLogEventHubName": "insights-activity-logs"}, false, "eh-exportguard/insights-activity-logs"},
		{"another namespace", map[string]string{"ActivityLogEventHub__fullyQualifiedNamespace": "eh-other.servicebus.windows.net", "ActivityLogEventHubName": "insights-activity-logs"}, true, "exports to eh-exportguard/insights-activity-logs, not the guard's hub"},
		{"another hub", map[string]string{"ActivityLogEventHub__fullyQualifiedNamespace": "eh-exportguard.servicebus.windows.net", "ActivityLogEventHubName": "guard-activity"}, true, "not the guard's hub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, stderr, err := runApp(t, envApp(tc.env), "replay", "--format", "json", "testdata/sessions/activity-log-settings.ndjson")
			if err != nil {
				t.Fatalf("replay: %v\n%s", err, stderr)
			}
			var found *guard.Finding
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var f guard.Finding
				if err := json.Unmarshal([]byte(line), &f); err != nil {
					t.Fatal(err)
				}
				if guard.SameID(f.ResourceID, good) {
					found = &f
				}
			}
			switch {
			case tc.open && (found == nil || found.Status != guard.StatusOpen || !strings.Contains(found.Message, tc.inReason)):
				t.Errorf("finding %+v, want open saying %q", found, tc.inReason)
			case !tc.open && found != nil:
				t.Errorf("finding %s: %s; want none", found.Status, found.Message)
			}
			if strings.Contains(out+stderr, "c2VjcmV0") {
				t.Error("the connection string's key was printed")
			}
		})
	}
}

func TestAppHubFromSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want rules.EventHub
	}{
		{"identity", map[string]string{"ActivityLogEventHub__fullyQualifiedNamespace": " eh.servicebus.usgovcloudapi.net ", "ActivityLogEventHubName": "hub"}, rules.EventHub{Namespace: "eh.servicebus.usgovcloudapi.net", Name: "hub"}},
		{"connection string", map[string]string{"ActivityLogEventHub": "Endpoint=sb://eh.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s", "ActivityLogEventHubName": "hub"}, rules.EventHub{Namespace: "eh.servicebus.windows.net", Name: "hub"}},
		{"the sample's placeholder", map[string]string{"ActivityLogEventHub__fullyQualifiedNamespace": "<namespace>.servicebus.windows.net", "ActivityLogEventHubName": "insights-activity-logs"}, rules.EventHub{Name: "insights-activity-logs"}},
		{"nothing set", map[string]string{}, rules.EventHub{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := appHub(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("appHub = %+v, want %+v", got, tc.want)
			}
		})
	}
}
