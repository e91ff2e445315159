package cli

import (
	"io"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// findingColumns are the columns of findings in a table (the resource's name
// and group) and in csv (those, and the full resource ID).
var findingColumns = []column[guard.Finding]{
	{csv: "id", cell: func(f guard.Finding) string { return f.ID }},
	{table: "STATUS", csv: "status", cell: func(f guard.Finding) string { return string(f.Status) }},
	{table: "SEVERITY", csv: "severity", cell: func(f guard.Finding) string { return f.Severity }},
	{table: "RULE", csv: "rule", cell: func(f guard.Finding) string { return f.Rule }},
	{table: "RESOURCE", csv: "resourceName", cell: func(f guard.Finding) string { return resourceName(f.ResourceID) }},
	{table: "GROUP", cell: func(f guard.Finding) string { return orDash(resourceGroup(f.ResourceID)) }},
	{csv: "resourceGroup", cell: func(f guard.Finding) string { return resourceGroup(f.ResourceID) }},
	{csv: "subscriptionId", cell: func(f guard.Finding) string { return f.SubscriptionID }},
	{csv: "resourceId", cell: func(f guard.Finding) string { return f.ResourceID }},
	{table: "MESSAGE", csv: "message", cell: func(f guard.Finding) string { return f.Message }},
	{csv: "firstSeen", cell: func(f guard.Finding) string { return csvTime(f.FirstSeen) }},
	{csv: "lastSeen", cell: func(f guard.Finding) string { return csvTime(f.LastSeen) }},
	{csv: "resolvedAt", cell: func(f guard.Finding) string {
		if f.ResolvedAt == nil {
			return ""
		}
		return csvTime(*f.ResolvedAt)
	}},
	{csv: "caller", cell: func(f guard.Finding) string { return f.Trigger.Caller }},
	{csv: "remediationAction", cell: func(f guard.Finding) string { return f.Remediation.Action }},
	{csv: "remediationMode", cell: func(f guard.Finding) string { return f.Remediation.Mode }},
	{csv: "remediationStatus", cell: func(f guard.Finding) string { return f.Remediation.Status }},
}

// printFindings writes findings in format f (json: the contract of DESIGN
// 3.1, one finding per line, as given).
func printFindings(w io.Writer, f outputFormat, width int, fs []guard.Finding) error {
	return writeListing(w, f, width, fs, findingColumns, false)
}

// printJSON writes one finding per line.
func printJSON(w io.Writer, fs []guard.Finding) error { return writeJSONLines(w, fs) }

// csvTime is t in RFC 3339, UTC, as the JSON has it; "" for no time.
func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
