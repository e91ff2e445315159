package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/sqlite"
)

const (
	sub     = "7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	subName = "ITAR Engineering" // its display name, as a scan kept it
	rg      = "/subscriptions/" + sub + "/resourceGroups/rg-itar-eng"
	sa      = rg + "/providers/Microsoft.Storage/storageAccounts/itardrawings"
	vm      = rg + "/providers/Microsoft.Compute/virtualMachines/vm-cad-01"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func at(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// fixture is a store with a known history:
//
//	09:00 change on sa (event e1), 09:02 finding cmk opened by it        TTD 2m
//	09:00 change on sa (event e2, correlation c2), 09:05 replication opened TTD 5m (by correlation)
//	09:30 remediation.applied for replication, 09:40 it resolves         TTR 25m (the fix, not the resolution)
//	10:00 the sweep opens a JIT overstay due at 09:50                     TTD 10m
//	10:20 the overstay resolves                                           TTR 20m
//	10:30 the replication finding opens again (event e3 at 10:29)         TTD 1m, still open
func fixture(t *testing.T) (*sqlite.Store, *guard.Policy) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	audit := func(when time.Time, kind, resource, subject string, data map[string]any) {
		raw, _ := json.Marshal(data)
		if _, err := st.AppendAudit(ctx, guard.AuditRecord{Partition: guard.PartitionOf(resource), At: when, Kind: kind, Subject: subject, Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(f guard.Finding) {
		if _, err := st.UpdateFinding(ctx, guard.PartitionOf(f.ResourceID), f.ID, func(*guard.Finding) (*guard.Finding, error) { return &f, nil }); err != nil {
			t.Fatal(err)
		}
	}
	cmk := guard.FindingID(guard.RuleEncryptionCMK, sa, "")
	repl := guard.FindingID(guard.RuleResidencyReplication, sa, "")
	jit := guard.FindingID(guard.RuleJITOverstay, vm, "g1")
	trig := func(ev, corr string) map[string]any {
		return map[string]any{"source": "eventhub", "eventId": ev, "correlationId": corr}
	}
	// change is a change (or sweep) record's data: its facts, and one transition.
	change := func(facts map[string]any, finding, resource, to string, trigger map[string]any) map[string]any {
		facts["transitions"] = []map[string]any{{"findingId": finding, "resourceId": resource, "from": "", "to": to, "trigger": trigger}}
		facts["verdicts"] = []any{}
		return facts
	}
	audit(at(2), "change", sa, sa, change(map[string]any{"eventId": "e1", "correlationId": "c1", "eventTime": at(0), "caller": "eng@contoso.com"}, cmk, sa, "open", trig("e1", "c1")))
	audit(at(10), "remediation.planned", sa, cmk, map[string]any{"action": "storage.set-cmk"})
	audit(at(5), "change", sa, sa, change(map[string]any{"eventId": "e2", "correlationId": "c2", "eventTime": at(0)}, repl, sa, "open", trig("e2-from-event-grid", "C2")))
	audit(at(30), "remediation.applied", sa, repl, map[string]any{"action": "storage.set-sku"})
	audit(at(40), "change", sa, sa, change(map[string]any{"eventId": "e9"}, repl, sa, "resolved", trig("e9", "")))
	audit(at(60), "sweep", vm, vm, change(map[string]any{"eventId": "sweep-x", "source": "timer"}, jit, vm, "open", map[string]any{"source": "timer", "eventId": "sweep-x"}))
	audit(at(80), "sweep", vm, vm, change(map[string]any{"eventId": "sweep-y", "source": "timer"}, jit, vm, "resolved", map[string]any{"source": "timer", "eventId": "sweep-y"}))
	reopen := trig("e3", "c3")
	reopen["caller"] = "ops@contoso.com"
	audit(at(90), "change", sa, sa, change(map[string]any{"eventId": "e3", "correlationId": "c3", "eventTime": at(89), "caller": "ops@contoso.com"}, repl, sa, "open", reopen))

	resolvedJIT := at(80)
	put(guard.Finding{ID: cmk, Rule: guard.RuleEncryptionCMK, Severity: "medium", Status: guard.StatusOpen, SubscriptionID: sub, ResourceID: sa,
		Message: "Storage account itardrawings uses <Microsoft-managed> keys.", FirstSeen: at(2), LastSeen: at(2),
		Remediation: guard.Remediation{Action: "storage.set-cmk", Mode: "approve", Status: "awaiting-approval"}})
	put(guard.Finding{ID: repl, Rule: guard.RuleResidencyReplication, Severity: "high", Status: guard.StatusOpen, SubscriptionID: sub, ResourceID: sa,
		Message: "replicates to westeurope", FirstSeen: at(5), LastSeen: at(90),
		Evidence: map[string]any{"secondaryLocation": "westeurope"}})
	put(guard.Finding{ID: jit, Rule: guard.RuleJITOverstay, Severity: "high", Status: guard.StatusResolved, SubscriptionID: sub, ResourceID: vm,
		Message: "JIT rule left open", FirstSeen: at(60), LastSeen: at(80), ResolvedAt: &resolvedJIT,
		Evidence: map[string]any{"mustBeClosedBy": at(50).Format(time.RFC3339Nano), "allowedSourceAddressPrefixes": []any{"203.0.113.10"}}})
	exemptID := guard.FindingID(guard.RuleResidencyLocation, rg+"/providers/Microsoft.Storage/storageAccounts/partner", "")
	put(guard.Finding{ID: exemptID, Rule: guard.RuleResidencyLocation, Severity: "high", Status: guard.StatusExempt, SubscriptionID: sub,
		ResourceID: rg + "/providers/Microsoft.Storage/storageAccounts/partner", Message: "in West Europe", FirstSeen: at(3), LastSeen: at(3),
		Evidence: map[string]any{"location": "westeurope", "exemption": map[string]any{"resource": rg}}})

	for _, r := range []guard.Resource{
		{ID: sa, Type: "Microsoft.Storage/storageAccounts", Location: "eastus", ObservedAt: at(0)},
		{ID: vm, Type: "Microsoft.Compute/virtualMachines", Location: "East US", ObservedAt: at(0)},
		{ID: rg + "/providers/Microsoft.Storage/storageAccounts/partner", Type: "Microsoft.Storage/storageAccounts", Location: "westeurope", ObservedAt: at(0)},
		{ID: rg + "/providers/Microsoft.Network/networkSecurityGroups/nsg", Type: "Microsoft.Network/networkSecurityGroups", Location: "global", ObservedAt: at(0)},
		*guard.NewSubscriptionName(sub, subName, at(0)),
	} {
		if err := st.PutResource(ctx, &r); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []guard.Grant{
		{ID: "g2", Rule: guard.RuleJITOverstay, Kind: "jit", ResourceID: vm, PrincipalID: "p-1", Start: at(100), End: at(170)},
		{ID: "g3", Rule: guard.RuleJITOverstay, Kind: "pim", ResourceID: rg + "/providers/Microsoft.Authorization/roleAssignments/ra", Start: at(0), End: at(95)},
	} {
		if err := st.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	pol := &guard.Policy{Cloud: "AzureUSGovernment", AllowedGeographies: []string{"United States"},
		Exemptions: []guard.Exemption{
			{Resource: rg, Rules: []string{guard.RuleResidencyLocation}, ExpiresOn: at(60 * 24 * 3), Reason: "licence D-1", ApprovedBy: "officer"},
			{Resource: rg + "/old", ExpiresOn: at(-60), Reason: "old", ApprovedBy: "officer"},
		}}
	return st, pol
}

func build(t *testing.T, opt Options) *Posture {
	t.Helper()
	st, pol := fixture(t)
	if opt.Now.IsZero() {
		opt.Now = at(120)
	}
	p, err := Build(context.Background(), st, pol, opt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuild(t *testing.T) {
	p := build(t, Options{})
	if want := (Totals{Findings: 4, Open: 2, Exempt: 1, Resolved: 1}); p.Totals != want {
		t.Errorf("totals %+v, want %+v", p.Totals, want)
	}
	if p.ByRule[1] != (Count{Key: guard.RuleResidencyReplication, Label: guard.RuleResidencyReplication, N: 1}) || len(p.ByRule) != len(guard.RuleIDs) {
		t.Errorf("by rule %+v", p.ByRule)
	}
	wantSev := []Count{{Key: "critical", Label: "critical"}, {Key: "high", Label: "high", N: 1}, {Key: "medium", Label: "medium", N: 1}, {Key: "low", Label: "low"}}
	if diff := cmp.Diff(wantSev, p.BySeverity); diff != "" {
		t.Errorf("by severity (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Count{{Key: "eastus", Label: "East US", N: 2}}, p.ByRegion); diff != "" {
		t.Errorf("by region (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Count{{Key: sub, Label: subName, N: 2, Detail: sub}}, p.BySubscription); diff != "" {
		t.Errorf("by subscription (-want +got):\n%s", diff)
	}
	var order []string
	for _, r := range p.Findings {
		order = append(order, r.Status+" "+r.Severity+" "+r.Rule)
	}
	wantOrder := []string{"open high residency.replication", "open medium encryption.cmk", "exempt high residency.location", "resolved high access.jit-overstay"}
	if diff := cmp.Diff(wantOrder, order); diff != "" {
		t.Errorf("findings order (-want +got):\n%s", diff)
	}
	if r := p.Findings[0]; r.PortalURL != "https://portal.azure.us/#@/resource"+sa || r.Region != "East US" || r.ResourceName != "itardrawings" || r.ResourceGroup != "rg-itar-eng" {
		t.Errorf("row %+v", r)
	}
	// Who changed it: the caller of the change that last opened the finding
	// (the transition's, else its record's); for the overstay, its evidence.
	// What is being done: the finding's remediation and the trail's last step.
	type who struct{ Rule, Caller, Remediation, Step string }
	var whos []who
	for _, r := range p.Findings {
		whos = append(whos, who{r.Rule, r.Caller, r.Remediation, r.RemedyStep})
	}
	wantWho := []who{
		{guard.RuleResidencyReplication, "ops@contoso.com", "", ""}, // the fix applied was before it reopened
		{guard.RuleEncryptionCMK, "eng@contoso.com", "awaiting-approval (approve)", "planned"},
		{guard.RuleResidencyLocation, "", "", ""},
		{guard.RuleJITOverstay, "from 203.0.113.10", "", ""},
	}
	if diff := cmp.Diff(wantWho, whos); diff != "" {
		t.Errorf("who and what is being done (-want +got):\n%s", diff)
	}
	if r := p.Findings[0]; !r.OpenedAt.Equal(at(90)) {
		t.Errorf("the reopened replication finding opened at %v, want %v (its last opening)", r.OpenedAt, at(90))
	}
	// The backlog: open findings at the end of each 5-minute step.
	var backlog []int
	for _, b := range p.Timeline.Buckets {
		backlog = append(backlog, b.Backlog)
	}
	if diff := cmp.Diff([]int{1, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2}, backlog); diff != "" {
		t.Errorf("backlog per step (-want +got):\n%s", diff)
	}
	// Groups: rules with the most severe open finding first, then those with none open.
	var groups []string
	for _, g := range p.Groups {
		groups = append(groups, fmt.Sprintf("%s %d/%d/%d %s", g.Rule, g.Open, g.Exempt, g.Resolved, g.Worst))
	}
	wantGroups := []string{"residency.replication 1/0/0 high", "encryption.cmk 1/0/0 medium", "access.jit-overstay 0/0/1 ", "residency.location 0/1/0 "}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Count{{Key: "under 1 day", Label: "under 1 day", N: 2}, {Key: "1 to 7 days", Label: "1 to 7 days"}, {Key: "7 to 30 days", Label: "7 to 30 days"}, {Key: "over 30 days", Label: "over 30 days"}}, p.Ageing); diff != "" {
		t.Errorf("ageing (-want +got):\n%s", diff)
	}

	// Timeline: 4 openings, 2 resolutions, in 5-minute steps from 09:00 to 10:30.
	if p.Timeline.Opened != 4 || p.Timeline.Resolved != 2 || p.Timeline.Step != 5*time.Minute || len(p.Timeline.Buckets) != 19 {
		t.Errorf("timeline opened %d resolved %d step %v buckets %d", p.Timeline.Opened, p.Timeline.Resolved, p.Timeline.Step, len(p.Timeline.Buckets))
	}
	if b := p.Timeline.Buckets[12]; !b.Start.Equal(at(60)) || b.Opened != 1 {
		t.Errorf("bucket at 10:00 %+v", b)
	}

	// TTD: 2m (event ID), 5m (correlation ID, any case), 10m (sweep: must be gone by 09:50), 1m.
	if want := (Stats{N: 4, P50: 2 * time.Minute, P90: 10 * time.Minute, P99: 10 * time.Minute, Max: 10 * time.Minute}); p.Detect != want {
		t.Errorf("time to detect %+v, want %+v", p.Detect, want)
	}
	// TTR: 25m to the remediation applied (not the resolution after it), 20m for the overstay.
	if want := (Stats{N: 2, P50: 20 * time.Minute, P90: 25 * time.Minute, P99: 25 * time.Minute, Max: 25 * time.Minute}); p.Remedy != want {
		t.Errorf("time to remediate %+v, want %+v", p.Remedy, want)
	}
	if p.StillOpen != 2 || p.OldestOpen != 118*time.Minute {
		t.Errorf("still open %d, oldest %v; want 2 (cmk, the reopened replication), 118m", p.StillOpen, p.OldestOpen)
	}

	// Grants at 11:00: g2 within its window, g3 past it.
	if len(p.Grants) != 2 || p.Grants[0].ID != "g3" || p.Grants[0].State != "past its window, not yet seen gone" || p.Grants[1].State != "within its window" {
		t.Errorf("grants %+v", p.Grants)
	}
	if len(p.Overstays) != 1 || p.Overstays[0].Overstay != 30*time.Minute || p.Overstays[0].Principal != "from 203.0.113.10" {
		t.Errorf("overstays %+v", p.Overstays)
	}

	// Exemptions, soonest expiry first.
	if len(p.Exemptions) != 2 || p.Exemptions[0].Active || p.Exemptions[0].Left != "expired 3h ago" || p.Exemptions[0].Rules != "all rules" ||
		!p.Exemptions[1].Active || p.Exemptions[1].Left != "expires in 2d 22h" || p.Exemptions[1].Exempt != 1 {
		t.Errorf("exemptions %+v", p.Exemptions)
	}

	// Residency: West Europe (not allowed: one resource, one replica) before East US; "global" is no region.
	want := []RegionRow{
		{Name: "westeurope", DisplayName: "West Europe", Geography: "Europe", Resources: 1, Replicas: 1},
		{Name: "eastus", DisplayName: "East US", Geography: "United States", Allowed: true, Resources: 2, Open: 2},
	}
	if diff := cmp.Diff(want, p.Residency); diff != "" {
		t.Errorf("residency (-want +got):\n%s", diff)
	}
}

func TestBuildSince(t *testing.T) {
	p := build(t, Options{Since: at(45)})
	// Only the overstay (10:00, resolved 10:20) and the reopening (10:30) are in the window.
	if p.Timeline.Opened != 2 || p.Timeline.Resolved != 1 || !p.Timeline.Buckets[0].Start.Equal(at(45)) {
		t.Errorf("timeline %+v", p.Timeline)
	}
	if p.Detect.N != 2 || p.Remedy.N != 1 || p.Remedy.Max != 20*time.Minute {
		t.Errorf("detect %+v remedy %+v", p.Detect, p.Remedy)
	}
	// Resolved findings are listed only when resolved in the window; open and exempt always.
	if len(p.Findings) != 4 {
		t.Errorf("%d findings listed, want 4", len(p.Findings))
	}
	p = build(t, Options{Since: at(85)})
	if len(p.Findings) != 3 || p.Totals.Resolved != 1 {
		t.Errorf("%d findings listed (want 3: the overstay resolved before), totals %+v", len(p.Findings), p.Totals)
	}
}

func TestStatsNearestRank(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Second)
	}
	if got, want := stats(ds), (Stats{N: 100, P50: 50 * time.Second, P90: 90 * time.Second, P99: 99 * time.Second, Max: 100 * time.Second}); got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if got := stats([]time.Duration{7}); got != (Stats{N: 1, P50: 7, P90: 7, P99: 7, Max: 7}) {
		t.Errorf("one value: %+v", got)
	}
	if got := stats(nil); got != (Stats{}) {
		t.Errorf("no value: %+v", got)
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond: "850ms", 1200 * time.Millisecond: "1.2s", 5 * time.Second: "5s",
		97*time.Second + 400*time.Millisecond: "1m 37s", 5 * time.Minute: "5m", 3*time.Hour + 5*time.Minute: "3h 5m",
		52 * time.Hour: "2d 4h", 48 * time.Hour: "2d",
	} {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
}

// resourceRefs finds anything in a page that a browser would load or run.
var (
	anyURL     = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	anchorHref = regexp.MustCompile(`(?i)<a href="https://portal\.azure\.(?:com|us)/#@/resource[^"]*"`)
	loaders    = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|<object|<embed|\bsrc=|@import|url\((?:["']?)(?:https?:|//)`)
)

func TestHTMLIsSelfContained(t *testing.T) {
	const secret = "https://contoso.webhook.office.com/webhookb2/SECRET-TOKEN"
	for _, refresh := range []time.Duration{0, time.Minute} {
		st, pol := fixture(t)
		pol.Notify = guard.Notify{Teams: guard.Target{URL: secret}, Webhook: guard.Target{URL: secret}}
		p, err := Build(context.Background(), st, pol, Options{Now: at(120), Refresh: refresh})
		if err != nil {
			t.Fatal(err)
		}
		var b, m bytes.Buffer
		if err := p.HTML(&b); err != nil {
			t.Fatal(err)
		}
		if err := p.Markdown(&m); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		if strings.Contains(page+m.String(), "SECRET-TOKEN") {
			t.Error("the report shows a notification URL")
		}
		if m := loaders.FindString(page); m != "" {
			t.Errorf("the page loads or runs something: %q", m)
		}
		// The only URLs are portal links in <a href>; the SVG namespace is not
		// needed in HTML and is not there either.
		rest := anchorHref.ReplaceAllString(page, "<a")
		if m := anyURL.FindAllString(rest, -1); len(m) > 0 {
			t.Errorf("URLs other than portal links: %q", m)
		}
		if !strings.Contains(page, `content="default-src 'none'`) {
			t.Error("no Content-Security-Policy forbidding loads")
		}
		if got := strings.Contains(page, `<meta http-equiv="refresh" content="60">`); got != (refresh > 0) {
			t.Errorf("refresh %v: meta refresh present = %v", refresh, got)
		}
		// Text from the store is escaped.
		if strings.Contains(page, "<Microsoft-managed>") || !strings.Contains(page, "&lt;Microsoft-managed&gt;") {
			t.Error("a finding's message is not escaped")
		}
	}
}

func TestHTMLIsAccessible(t *testing.T) {
	p := build(t, Options{})
	var b bytes.Buffer
	if err := p.HTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	svgs := regexp.MustCompile(`(?s)<svg role="img" aria-labelledby="([^" ]+)-title ([^" ]+)-desc"[^>]*>\s*<title id="([^"]+)">([^<]+)</title>\s*<desc id="([^"]+)">([^<]+)</desc>`).FindAllStringSubmatch(page, -1)
	if len(svgs) != 3 {
		t.Fatalf("%d charts with a title and description, want 3 (timeline, backlog, residency)", len(svgs))
	}
	for _, m := range svgs {
		if m[3] != m[1]+"-title" || m[5] != m[2]+"-desc" {
			t.Errorf("chart %s: aria-labelledby does not name its title and desc", m[1])
		}
	}
	// The descriptions say the numbers in words.
	for _, want := range []string{
		"4 finding(s) opened and 2 resolved, in steps of 5m",
		"Findings open at the end of each step of 5m: 1 after the first step, 2 after the last (growing, by 1).",
		"West Europe, not allowed: 1 resource(s), 1 replica(s)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no chart description says %q", want)
		}
	}
	// The breakdowns are tables (a screen reader reads them as such) whose
	// number cells are drawn as bars; no breakdown is drawn twice.
	for _, want := range []string{
		`<tr data-key="residency.replication"><th scope="row">residency.replication</th><td class="n" style="--w:100%">1</td></tr>`,
		`<tr data-key="under 1 day"><th scope="row">under 1 day</th><td class="n" style="--w:100%">2</td></tr>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Series differ by pattern and by label, not by colour alone.
	for _, want := range []string{`fill="url(#eg-hatch)"`, `>resolved</text>`, `>opened</text>`, `2 (NOT ALLOWED)`, `<span class="notallowed">NO</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestMarkdownTellsTheSameFacts(t *testing.T) {
	p := build(t, Options{})
	var b bytes.Buffer
	if err := p.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		"**2 open**, 1 exempt, 1 resolved; 4 finding(s) in all.",
		"| residency.replication | 1 |",
		"| East US | 2 |",
		"| under 1 day | 2 |",
		"| **total** | **4** | **2** | |",
		"Open backlog: 1 at the end of the first step, 2 at the end of the last.",
		"### `encryption.cmk`: **1 open** (worst: medium), 0 exempt, 0 resolved",
		"| time to detect | 4 | 2m | 10m | 10m | 10m |",
		"| time to remediate | 2 | 20m | 25m | 25m | 25m |",
		"| open | medium | [itardrawings](https://portal.azure.us/#@/resource" + sa + ") | rg-itar-eng | East US | eng@contoso.com | awaiting-approval (approve) (last step: planned) |",
		"uses &lt;Microsoft-managed&gt; keys.",
		"| West Europe | Europe | **NO** | 1 | 1 | 0 |",
		"**2 resource(s) and replica(s) in 1 region(s) outside the allowed set.**",
		"| `" + rg + "` | residency.location |",
		"### Grants being watched (2)",
		"### Overstays (1)",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
}

func TestEmptyStore(t *testing.T) {
	st, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := Build(context.Background(), st, nil, Options{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	var h, m bytes.Buffer
	if err := p.HTML(&h); err != nil {
		t.Fatal(err)
	}
	if err := p.Markdown(&m); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.String(), `data-testid="open-count">0<`) || !strings.Contains(h.String(), "nothing opened or resolved in this period") {
		t.Error("an empty store's page does not say so")
	}
}

// TestGolden renders the fixture as a person reads it; -update rewrites
// testdata/golden (read the diff).
func TestGolden(t *testing.T) {
	p := build(t, Options{})
	for name, render := range map[string]func(*bytes.Buffer) error{
		"report.html": func(b *bytes.Buffer) error { return p.HTML(b) },
		"report.md":   func(b *bytes.Buffer) error { return p.Markdown(b) },
	} {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to write it)", err)
		}
		if diff := cmp.Diff(string(want), b.String()); diff != "" {
			t.Errorf("%s (-golden +got):\n%s", name, diff)
		}
	}
}

// manyFindings is a posture of n findings of one rule in subs
// subscriptions, plus one of another rule.
func manyFindings(n, subs int) *Posture {
	p := &Posture{GeneratedAt: t0}
	for i := range n {
		sub := fmt.Sprintf("00000000-0000-0000-0000-%012d", i%subs)
		id := fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-itar-eng/providers/Microsoft.Storage/storageAccounts/sa%05d", sub, i)
		status := "open"
		if i%10 == 9 {
			status = "resolved"
		}
		p.Findings = append(p.Findings, Row{ID: fmt.Sprint(i), Rule: guard.RuleEncryptionCMK, Severity: "medium", Status: status,
			SubscriptionID: sub, ResourceID: id, ResourceName: lastSegment(id), ResourceGroup: "rg-itar-eng"})
	}
	p.Findings = append(p.Findings, Row{ID: "x", Rule: guard.RuleTransitTLS, Severity: "high", Status: "open", SubscriptionID: sub,
		ResourceID: sa, ResourceName: "itardrawings", ResourceGroup: "rg-itar-eng"})
	return p
}

// Every finding is on the page once: in full while the group's and the
// page's bounds allow, else by name; the most severe group comes first.
func TestGroupsBoundRowsAndNameEveryFinding(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n, subs   int
		per       int
		wantFull  int // rows in full, in all
		wantFirst int // rows in full of the first encryption.cmk group
	}{
		{"small group, all in full", 10, 1, 0, 11, 10},
		{"default bound per group", 300, 1, 0, 26, 25},
		{"a bound given", 300, 1, 5, 6, 5},
		{"every finding in full", 300, 1, -1, 301, 300},
		{"every finding in full, many groups", 5000, 100, -1, 5001, 50},
		{"the page's bound", 5000, 100, 30, 30 * MaxRowsFactor, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := manyFindings(tc.n, tc.subs)
			p.groups(tc.per)
			if len(p.Groups) != 2 || p.Groups[0].Rule != guard.RuleTransitTLS {
				t.Fatalf("groups %+v: want transit.tls (high) first, then encryption.cmk", p.Groups)
			}
			seen := map[string]int{}
			full := 0
			for _, g := range p.Groups {
				for _, s := range g.Subs {
					full += len(s.Rows)
					for _, r := range s.Rows {
						seen[r.ResourceName]++
					}
					named := 0
					for _, l := range s.More {
						for _, n := range l.Names {
							seen[strings.TrimPrefix(n, "○ ")]++
							named++
						}
					}
					if named != s.MoreN || s.Open+s.Exempt+s.Resolved != len(s.Rows)+s.MoreN {
						t.Errorf("%s: %d named, MoreN %d, counts %+v, %d rows", g.Rule, named, s.MoreN, s.GroupCounts, len(s.Rows))
					}
				}
			}
			if full != tc.wantFull || len(p.Groups[1].Subs[0].Rows) != tc.wantFirst {
				t.Errorf("%d rows in full (want %d), %d of the big group (want %d)", full, tc.wantFull, len(p.Groups[1].Subs[0].Rows), tc.wantFirst)
			}
			if len(seen) != tc.n+1 {
				t.Errorf("%d findings on the page, want %d", len(seen), tc.n+1)
			}
			for name, k := range seen {
				if k != 1 {
					t.Errorf("%s is on the page %d times", name, k)
				}
			}
		})
	}
}

func TestAgeing(t *testing.T) {
	now := t0
	p := &Posture{GeneratedAt: now}
	for _, age := range []time.Duration{time.Hour, 23 * time.Hour, 24 * time.Hour, 6 * 24 * time.Hour, 8 * 24 * time.Hour, 40 * 24 * time.Hour} {
		p.Findings = append(p.Findings, Row{Status: "open", OpenedAt: now.Add(-age)})
	}
	p.Findings = append(p.Findings, Row{Status: "resolved", OpenedAt: now.Add(-time.Hour)}, Row{Status: "exempt", OpenedAt: now.Add(-time.Hour)})
	p.ageing()
	var got []int
	for _, c := range p.Ageing {
		got = append(got, c.N)
	}
	if diff := cmp.Diff([]int{2, 2, 1, 1}, got); diff != "" {
		t.Errorf("ageing (-want +got):\n%s", diff)
	}
}
