package guard

import "strings"

// The subscription's diagnostic settings, judged as one (monitoring.activity-log,
// DESIGN 3.3): whether the guard still hears a subscription depends on all of
// them together (one good setting is enough), so a change to any one of them
// is a change to the collection, which ARM lists in one read
// (SubscriptionDiagnosticSettings_List; it has no next page).

// TypeDiagnosticSettings is the ARM type of a diagnostic setting, and of the
// collection of a subscription's settings.
const TypeDiagnosticSettings = "Microsoft.Insights/diagnosticSettings"

// DiagnosticSettingsID is the ID of the collection of a subscription's
// diagnostic settings: GET on it lists them.
func DiagnosticSettingsID(subscriptionID string) string {
	return "/subscriptions/" + strings.ToLower(strings.TrimSpace(subscriptionID)) + "/providers/Microsoft.Insights/diagnosticSettings"
}

// SubscriptionID returns the ID of the subscription itself, the resource the
// findings of monitoring.activity-log name.
func SubscriptionID(subscriptionID string) string {
	return "/subscriptions/" + strings.ToLower(strings.TrimSpace(subscriptionID))
}

// IsDiagnosticSettingsID reports whether id is the collection of a
// subscription's diagnostic settings (DiagnosticSettingsID), however cased.
func IsDiagnosticSettingsID(id string) bool {
	parts := strings.Split(strings.Trim(strings.TrimSpace(id), "/"), "/")
	return len(parts) == 5 && strings.EqualFold(parts[0], "subscriptions") && parts[1] != "" &&
		strings.EqualFold(parts[2], "providers") && strings.EqualFold(parts[3], "Microsoft.Insights") &&
		strings.EqualFold(parts[4], "diagnosticSettings")
}

// settingsChanges makes each change to one of a subscription's own diagnostic
// settings ("/subscriptions/S/providers/microsoft.insights/diagnosticSettings/N",
// as the Activity Log names it) a change to the collection of its settings, so
// that ARM is asked for all of them and the rule judges them together. A
// setting of a resource (one more "providers" segment before it) is left as it
// is: only the subscription's settings export the Activity Log.
func settingsChanges(cs []Change) {
	for i := range cs {
		c := &cs[i]
		parts := strings.Split(strings.Trim(c.ResourceID, "/"), "/")
		if c.Resource != nil || len(parts) != 6 || !IsDiagnosticSettingsID("/"+strings.Join(parts[:5], "/")) {
			continue
		}
		c.ResourceID = DiagnosticSettingsID(parts[1])
		c.ResourceType = TypeDiagnosticSettings
	}
}
