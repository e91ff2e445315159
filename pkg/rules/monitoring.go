package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// EventHub is the hub the app's activitylog function listens on, as its
// settings name it: the namespace (the host name of
// ActivityLogEventHub__fullyQualifiedNamespace, or just the namespace's name)
// and the hub (ActivityLogEventHubName). The zero value is a hub not known
// (replay on a machine without the app's settings): then a setting that
// exports Administrative to any Event Hub is taken as the guard's.
type EventHub struct {
	Namespace string
	Name      string
}

// namespaceName is the namespace's name: the first label of its host name.
func (h EventHub) namespaceName() string {
	ns, _, _ := strings.Cut(strings.TrimSpace(h.Namespace), ".")
	return strings.ToLower(ns)
}

func (h EventHub) known() bool { return h.namespaceName() != "" && strings.TrimSpace(h.Name) != "" }

func (h EventHub) String() string {
	if !h.known() {
		return "(not known here)"
	}
	return h.namespaceName() + "/" + strings.TrimSpace(h.Name)
}

// phrase names the hub in a message.
func (h EventHub) phrase() string {
	if !h.known() {
		return "an Event Hub (the guard's hub is not known here)"
	}
	return "the guard's hub " + h.String()
}

// defaultActivityLogHub is the hub a setting sends the Activity Log to when it
// names none: "If none is specified, the default event hub will be selected"
// (SubscriptionDiagnosticSettings, Microsoft.Insights 2021-05-01-preview,
// https://learn.microsoft.com/rest/api/monitor/subscription-diagnostic-settings/create-or-update),
// which for the Activity Log is insights-activity-logs
// (https://docs.triggermesh.io/sources/azureactivitylogs/: "Event Hub managed
// by Azure, defaults to insights-activity-logs").
const defaultActivityLogHub = "insights-activity-logs"

// Silence and diagnostic settings are two findings on the subscription
// (GrantID), since each resolves on its own ground: the settings on an ARM
// read, silence on records arriving.
const (
	grantDiagnosticSettings = "diagnosticSettings"
	grantSilence            = "silence"
)

// DefaultSilence is rules.monitoring.activity-log.silence when the policy
// gives none (DESIGN 3.5).
const DefaultSilence = 24 * time.Hour

// ActivityLog is monitoring.activity-log (DESIGN 3.3): a subscription in scope
// the guard has gone blind to. It judges the collection of the subscription's
// diagnostic settings (read from ARM when an Activity Log record about one of
// them arrives): some setting must export the Administrative category, enabled
// (by name, or in the allLogs group), to the hub the app listens on. A
// setting deleted, Administrative dropped, or the export pointed at another
// hub opens a finding on the subscription; an ARM read showing a good setting
// resolves it. And, through the sweep (guard.SilenceRule), a subscription in
// scope.subscriptions that sent nothing for longer than silence is a second
// finding on it, resolved when records arrive again.
type ActivityLog struct {
	Hub EventHub // the app's hub; zero when not known
}

func (ActivityLog) ID() string { return guard.RuleMonitoringActivityLog }

func (ActivityLog) Applies(t string) bool { return isType(t, guard.TypeDiagnosticSettings) }

// Evaluate judges the collection of a subscription's settings.
// SubscriptionDiagnosticSettings_List (api-version 2021-05-01-preview,
// https://learn.microsoft.com/rest/api/monitor/subscription-diagnostic-settings/list)
// answers {"value": [{"id", "name", "properties": {"eventHubAuthorizationRuleId",
// "eventHubName", "logs": [{"category", "categoryGroup", "enabled"}], ...}}]};
// a subscription with no setting answers an empty list.
func (r ActivityLog) Evaluate(in guard.Input) []guard.Verdict {
	if !guard.IsDiagnosticSettingsID(in.Resource.ID) {
		return nil // one resource's own setting: it exports no Activity Log
	}
	var list struct {
		Value []diagnosticSetting `json:"value"`
	}
	if !decode(in.Resource.Body, &list) {
		return nil
	}
	sub := guard.SubscriptionOf(in.Resource.ID)
	v := guard.Verdict{Rule: guard.RuleMonitoringActivityLog, ResourceID: guard.SubscriptionID(sub), GrantID: grantDiagnosticSettings}
	seen := []string{}
	for _, s := range list.Value {
		why := r.judgeSetting(s)
		if why == "" {
			v.Message = fmt.Sprintf("Subscription %s exports its Activity Log (Administrative) to %s through diagnostic setting %s.", sub, r.Hub.phrase(), s.Name)
			v.Evidence = map[string]any{"diagnosticSetting": s.Name, "appHub": r.Hub.String(), "settings": len(list.Value)}
			return []guard.Verdict{v}
		}
		seen = append(seen, fmt.Sprintf("%s: %s", firstNonEmpty(s.Name, "(unnamed)"), why))
	}
	sort.Strings(seen)
	v.Violation = true
	v.Evidence = map[string]any{"appHub": r.Hub.String(), "settings": len(list.Value), "diagnosticSettings": seen}
	if len(list.Value) == 0 {
		v.Message = fmt.Sprintf("Subscription %s has no diagnostic setting: its Activity Log reaches no Event Hub, and the guard hears nothing of it.", sub)
	} else {
		v.Message = fmt.Sprintf("No diagnostic setting of subscription %s exports Administrative to %s, so the guard hears nothing of it; %s.", sub, r.Hub.phrase(), strings.Join(seen, "; "))
	}
	v.Action = "create a subscription diagnostic setting that sends the Administrative category to the guard's Event Hub"
	return []guard.Verdict{v}
}

// judgeSetting says why a setting does not export Administrative to the
// guard's hub, or "" when it does.
func (r ActivityLog) judgeSetting(s diagnosticSetting) string {
	var p struct {
		RuleID string `json:"eventHubAuthorizationRuleId"`
		Hub    string `json:"eventHubName"`
		Logs   []struct {
			Category      string   `json:"category"`
			CategoryGroup string   `json:"categoryGroup"`
			Enabled       flexBool `json:"enabled"`
		} `json:"logs"`
	}
	if !hasObject(s.Properties) || fastjson.Unmarshal(s.Properties, &p) != nil {
		return "no properties"
	}
	admin := false
	for _, l := range p.Logs {
		if l.Enabled.Value && (strings.EqualFold(strings.TrimSpace(l.Category), "Administrative") || strings.EqualFold(strings.TrimSpace(l.CategoryGroup), "allLogs")) {
			admin = true
		}
	}
	if !admin {
		return "Administrative not exported"
	}
	ruleID := strings.TrimSpace(p.RuleID)
	if ruleID == "" {
		return "no Event Hub"
	}
	ns, hub := eventHubOfRule(ruleID)
	hub = firstNonEmpty(strings.TrimSpace(p.Hub), hub, defaultActivityLogHub)
	if !r.Hub.known() {
		return ""
	}
	if !strings.EqualFold(ns, r.Hub.namespaceName()) || !strings.EqualFold(hub, strings.TrimSpace(r.Hub.Name)) {
		return fmt.Sprintf("exports to %s/%s, not the guard's hub", firstNonEmpty(ns, "(unknown namespace)"), hub)
	}
	return ""
}

// eventHubOfRule reads the namespace, and the hub when the rule is a hub's,
// from an authorization rule ID: …/namespaces/NS/authorizationrules/R or
// …/namespaces/NS/eventhubs/HUB/authorizationrules/R (both appear in
// Microsoft's examples of diagnostic settings).
func eventHubOfRule(id string) (namespace, hub string) {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		switch {
		case strings.EqualFold(parts[i], "namespaces"):
			namespace = strings.ToLower(parts[i+1])
		case strings.EqualFold(parts[i], "eventhubs") && namespace != "":
			hub = parts[i+1]
		}
	}
	return namespace, hub
}

// diagnosticSetting is one element of the list.
type diagnosticSetting struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
}

// Silence is the sweep's half (guard.SilenceRule).
func (r ActivityLog) Silence(in guard.Input, h guard.Heard) []guard.Verdict {
	silence := time.Duration(in.Policy.Rules[guard.RuleMonitoringActivityLog].Silence)
	if silence <= 0 {
		silence = DefaultSilence
	}
	v := guard.Verdict{Rule: guard.RuleMonitoringActivityLog, ResourceID: guard.SubscriptionID(h.SubscriptionID), GrantID: grantSilence}
	at := h.At.UTC().Format(time.RFC3339)
	if in.Now.Equal(h.At) && !h.Watching {
		v.Message = fmt.Sprintf("Activity Log records arrive from subscription %s again.", h.SubscriptionID)
		v.Evidence = map[string]any{"lastHeard": at}
		return []guard.Verdict{v}
	}
	if in.Now.Sub(h.At) <= silence+h.Slack {
		return nil
	}
	v.Violation = true
	v.Evidence = map[string]any{"silence": silence.String(), "slack": h.Slack.String()}
	if h.Watching {
		v.Evidence["watchingSince"] = at
		v.Message = fmt.Sprintf("No Activity Log record has arrived from subscription %s since the guard began watching it at %s, longer than the %s allowed: the guard may be blind to it.", h.SubscriptionID, at, silence)
	} else {
		v.Evidence["lastHeard"] = at
		v.Message = fmt.Sprintf("No Activity Log record has arrived from subscription %s since %s, longer than the %s allowed: the guard may be blind to it.", h.SubscriptionID, at, silence)
	}
	v.Action = "check the subscription's diagnostic setting and the Event Hub it sends to"
	return []guard.Verdict{v}
}

// What the pipeline needs of it.
var _ guard.SilenceRule = ActivityLog{}
