package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// Outbox item kinds, one per target.
const (
	KindTeams   = "notify.teams"
	KindSlack   = "notify.slack"
	KindWebhook = "notify.webhook"
)

// Event is what happened to a finding.
type Event string

const (
	EventOpened             Event = "opened"
	EventReopened           Event = "reopened"
	EventExemptionExpired   Event = "exemption-expired"
	EventResolved           Event = "resolved"
	EventExempted           Event = "exempted"
	EventRemediationApplied Event = "remediation-applied"
	EventRemediationFailed  Event = "remediation-failed"
)

// Title is the event as a headline says it.
func (e Event) Title() string {
	switch e {
	case EventOpened:
		return "Violation opened"
	case EventReopened:
		return "Violation reopened"
	case EventExemptionExpired:
		return "Exemption ended, violation open"
	case EventResolved:
		return "Violation resolved"
	case EventExempted:
		return "Violation exempted"
	case EventRemediationApplied:
		return "Remediation applied"
	case EventRemediationFailed:
		return "Remediation failed"
	}
	return "Finding changed"
}

// Tone is how alarming the event is: "attention" (a violation is open, or a
// remediation failed), "good" (resolved, remediated) or "warning" (exempted).
func (e Event) Tone() string {
	switch e {
	case EventResolved, EventRemediationApplied:
		return "good"
	case EventExempted:
		return "warning"
	}
	return "attention"
}

// PayloadVersion is the version of the Message JSON kept in the outbox.
const PayloadVersion = 1

// Message is the neutral notification every target renders: the payload of a
// notification outbox item. It never holds a webhook URL.
type Message struct {
	Version int       `json:"v"`
	Event   Event     `json:"event"`
	Test    bool      `json:"test,omitempty"` // a sample from "exportguard notify test"
	Cloud   string    `json:"cloud"`          // AzureCloud or AzureUSGovernment
	At      time.Time `json:"at"`             // when the transition happened

	Finding guard.Finding `json:"finding"`        // as stored after the transition (DESIGN 3.4)
	From    guard.Status  `json:"from,omitempty"` // the status before, "" for a new finding

	Resource ResourceInfo `json:"resource"`
	Who      string       `json:"who"`      // who did it, as a person reads it
	Evidence string       `json:"evidence"` // the facts the verdict rests on, in a sentence
	Status   string       `json:"status"`   // the finding's status and its remediation's, in words
	NextStep string       `json:"nextStep"` // what to do now
	Detail   string       `json:"detail,omitempty"`
	Links    Links        `json:"links"`
	// Origin is the exportguard instance that sent it (EXPORTGUARD_PUBLIC_URL),
	// "" when none is configured.
	Origin string `json:"origin,omitempty"`
}

// ResourceInfo names the resource a person would fix.
type ResourceInfo struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup,omitempty"`
	Region         string `json:"region,omitempty"`     // programmatic name, e.g. usgovvirginia
	RegionName     string `json:"regionName,omitempty"` // e.g. US Gov Virginia
}

// RegionText is the region as a card shows it.
func (r ResourceInfo) RegionText() string {
	switch {
	case r.Region == "":
		return "unknown"
	case r.RegionName != "" && region.Normalize(r.RegionName) == r.Region:
		return r.RegionName + " (" + r.Region + ")"
	}
	return r.Region
}

// Links are where a person goes next.
type Links struct {
	Portal  string `json:"portal"`
	Approve string `json:"approve,omitempty"`
	Deny    string `json:"deny,omitempty"`
}

// Headline is the message's one-line summary.
func (m Message) Headline() string {
	h := m.Event.Title() + ": " + m.Finding.Rule + " on " + m.Resource.Name
	if m.Test {
		h = "Test: " + h
	}
	return h
}

// Span is the time from the first to the last of messages, as a digest shows it.
func Span(ms []Message) string {
	if len(ms) == 0 {
		return ""
	}
	first, last := ms[0].At, ms[0].At
	for _, m := range ms[1:] {
		if m.At.Before(first) {
			first = m.At
		}
		if m.At.After(last) {
			last = m.At
		}
	}
	a, b := Message{At: first}.WhenText(), Message{At: last}.WhenText()
	if a == b {
		return a
	}
	return a + " to " + b
}

// WhenText is the time of the transition as a card shows it.
func (m Message) WhenText() string { return m.At.UTC().Format("2006-01-02 15:04:05 UTC") }

// SeverityText is the severity in capitals, as a label.
func (m Message) SeverityText() string { return strings.ToUpper(m.Finding.Severity) }

// PortalURL links to a resource in the Azure portal of the cloud: the public
// portal, or the Azure Government one.
func PortalURL(cloud, resourceID string) string {
	host := "portal.azure.com"
	if cloud == "AzureUSGovernment" {
		host = "portal.azure.us"
	}
	return "https://" + host + "/#@/resource" + resourceID
}

// resourceInfo describes the finding's resource; its region comes from the
// state judged (or the one before it), else from the evidence.
func resourceInfo(f guard.Finding, states ...*guard.Resource) ResourceInfo {
	id := f.ResourceID
	ri := ResourceInfo{ID: id, Name: lastSegment(id), Type: guard.TypeOf(id), SubscriptionID: f.SubscriptionID,
		ResourceGroup: segmentAfter(id, "resourceGroups")}
	if ri.SubscriptionID == "" {
		ri.SubscriptionID = guard.SubscriptionOf(id)
	}
	loc := ""
	for _, r := range states {
		if r != nil && r.Location != "" && (guard.SameID(r.ID, id) || guard.WithinScope(r.ID, id)) {
			loc = r.Location
			break
		}
	}
	if loc == "" {
		for _, k := range []string{"location", "region", "primaryLocation"} {
			if s, ok := f.Evidence[k].(string); ok && s != "" {
				loc = s
				break
			}
		}
	}
	if loc != "" {
		ri.Region = region.Normalize(loc)
		if reg, ok := region.Lookup(loc); ok {
			ri.RegionName = reg.DisplayName
		}
	}
	return ri
}

func lastSegment(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	return parts[len(parts)-1]
}

func segmentAfter(id, key string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) {
			return parts[i+1]
		}
	}
	return ""
}

// who says who caused the transition.
func who(f guard.Finding, e Event) string {
	switch {
	case e == EventExemptionExpired:
		return "nobody: the exemption ended (found by exportguard's periodic check)"
	case e == EventRemediationApplied || e == EventRemediationFailed:
		return "exportguard remediation"
	case f.Trigger.Caller != "":
		return f.Trigger.Caller
	case f.Trigger.Source == guard.SourceTimer:
		return "unknown (found by exportguard's periodic check)"
	}
	return "unknown (the event did not say)"
}

// statusText is the finding's status and its remediation's, in words.
func statusText(f guard.Finding) string {
	s := string(f.Status)
	r := f.Remediation
	switch {
	case r.Status == "" || r.Status == "none":
		if r.Mode == "" || r.Mode == guard.RemediationOff {
			return s + "; no automatic remediation"
		}
		return s + "; no remediation planned (mode " + r.Mode + ")"
	}
	return s + "; remediation " + strings.ReplaceAll(r.Status, "-", " ") + " (mode " + r.Mode + ")"
}

// nextStep says what a person should do now.
func nextStep(f guard.Finding, e Event, links Links, detail string, at time.Time) string {
	action := strings.TrimSuffix(strings.TrimSpace(f.Remediation.Action), ".")
	fix := "Review the resource and fix it, or ask the export officer for an exemption."
	if action != "" {
		fix = "Fix it: " + action + ". Or, if this is allowed, ask the export officer for an exemption."
	}
	switch e {
	case EventResolved:
		if msg := resolutionMessage(f); msg != "" {
			return "Nothing to do: " + msg
		}
		return "Nothing to do: the violation is gone."
	case EventExempted:
		if ex, ok := guard.ExemptionOf(f.Evidence, guard.EvidenceExemption); ok {
			return "Nothing to do while the exemption lasts: " + exemptionText(ex, at) + "."
		}
		return "Nothing to do while the exemption lasts."
	case EventRemediationApplied:
		s := "Nothing to do: exportguard remediated it"
		if action != "" {
			s += " (" + action + ")"
		}
		s += ". "
		if detail != "" {
			s += strings.TrimSuffix(detail, ".") + ". "
		}
		return s + "Check the resource in the portal."
	case EventRemediationFailed:
		s := "The remediation failed"
		if detail != "" {
			s += ": " + strings.TrimSuffix(detail, ".")
		}
		s += ". "
		if action != "" {
			return s + "Fix it by hand: " + action + "."
		}
		return s + "Fix it by hand."
	}
	// The violation is open.
	prefix := ""
	if e == EventExemptionExpired {
		if ex, ok := guard.ExemptionOf(f.Evidence, guard.EvidenceExemptionExpired); ok {
			prefix = "The exemption no longer covers it (" + exemptionText(ex, at) + "). "
		} else {
			prefix = "The exemption no longer covers it. "
		}
	}
	r := f.Remediation
	switch {
	case r.Status == "awaiting-approval" && links.Approve != "":
		return prefix + "Approve or deny the planned remediation (" + action + "): Approve remediation or Deny remediation on this message."
	case r.Status == "awaiting-approval":
		return prefix + "Approve or deny the planned remediation (" + action + ") in exportguard, finding " + f.ID + "."
	case r.Status == "planned" && r.Mode == guard.RemediationAuto:
		return prefix + "exportguard remediates it automatically (" + action + "); a message follows with the outcome."
	case r.Status == "planned" && r.Mode == guard.RemediationDryRun:
		return prefix + "Remediation is a dry run: exportguard changes nothing. " + fix
	}
	return prefix + fix
}

func resolutionMessage(f guard.Finding) string {
	res, _ := guard.ResolutionOf(f.Evidence)
	return strings.TrimSpace(res.Message)
}

// exemptionText describes an exemption: its reason, approver and expiry.
func exemptionText(ex guard.ExemptionEvidence, at time.Time) string {
	var parts []string
	if ex.Reason != "" {
		parts = append(parts, ex.Reason)
	}
	if ex.ApprovedBy != "" {
		parts = append(parts, "approved by "+ex.ApprovedBy)
	}
	if t := ex.ExpiresOn; !t.IsZero() {
		verb := "expires"
		if !t.After(at) {
			verb = "expired"
		}
		parts = append(parts, verb+" "+t.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if len(parts) == 0 {
		return "no details"
	}
	return strings.Join(parts, ", ")
}

// eventOf names a transition, and reports whether people are told of it: a
// finding becoming open, or stopping being open.
func eventOf(from, to guard.Status) (Event, bool) {
	switch {
	case to == guard.StatusOpen && from == "":
		return EventOpened, true
	case to == guard.StatusOpen && from == guard.StatusResolved:
		return EventReopened, true
	case to == guard.StatusOpen && from == guard.StatusExempt:
		return EventExemptionExpired, true
	case from == guard.StatusOpen && to == guard.StatusResolved:
		return EventResolved, true
	case from == guard.StatusOpen && to == guard.StatusExempt:
		return EventExempted, true
	}
	return "", false
}

// String describes a message for logs: the event and the finding, never a URL.
func (m Message) String() string {
	return fmt.Sprintf("%s %s (%s on %s)", m.Event, m.Finding.ID, m.Finding.Rule, m.Resource.Name)
}
