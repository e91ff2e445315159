// Package report turns a store into a picture of the compliance posture: the
// open findings by rule, severity, subscription, region and age; a timeline of
// findings opened and resolved, and the open backlog over it; time to detect
// and time to remediate; the findings by rule, then subscription, with who
// changed each resource and what is being done; JIT grants and overstays;
// exemptions and when they expire; and where data lives against where it is
// allowed. It is read by an officer at the size a baseline scan makes (10,000
// findings), so the page stays small (see groups.go). Build reads the store into a Posture; HTML renders it as
// one self-contained page (inline CSS and server-drawn SVG, no script and no
// resource fetched at view time) and Markdown as text for a ticket.
//
// The numbers, and where they come from:
//
//   - Findings and their counts are the store's findings as they stand now.
//     "Open" counts only status open; exempt findings are counted apart.
//   - Who changed a resource is the caller of the change that last opened its
//     finding (the transition's trigger, else its change record), else the
//     finding's trigger, else the principal its evidence names. What is being
//     done is the finding's remediation status and the trail's last
//     remediation record about it since it last opened.
//   - A subscription's name is the display name a scan kept for it
//     (guard.TypeSubscriptionName, among the resources' states); a
//     subscription with none is shown by its ID.
//   - The backlog at the end of a timeline step replays every transition of
//     the trail (to open; to resolved or exempt) up to then.
//   - The timeline counts finding transitions in the audit trail, read
//     partition by partition (every chain AuditHeads names, the seals'
//     aside): a transition to open in a change or sweep record is a finding
//     opened (a finding reopened counts again), one to resolved one resolved.
//   - Time to detect is, for each finding.open record, the time from the
//     moment the violation began to the record: the event time of the change
//     that triggered it (the audit trail's change records with the trigger's
//     event or correlation ID), or, for a finding the sweep opened, the time
//     the grant had to be gone by (evidence mustBeClosedBy, mustBeGoneBy) or
//     the exemption that covered it expired.
//   - Time to remediate is, for each opening, the time until the first of the
//     finding's next transition to resolved and its remediation.applied
//     record. Openings not yet closed are not counted (the report says how
//     many are still open).
//   - Percentiles are nearest-rank: p90 of n values is the value at rank
//     ceil(0.9 n) of the values sorted.
//
// With Since set, the timeline and both times only count transitions at or
// after it, and the findings table lists resolved findings only when they were
// resolved at or after it; open and exempt findings are always listed.
package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// Source is what a report reads: any guard.Store.
type Source interface {
	ListFindings(ctx context.Context, f guard.FindingFilter) ([]guard.Finding, error)
	ListAudit(ctx context.Context, partition string, after int64, limit int) ([]guard.AuditRecord, error)
	AuditHeads(ctx context.Context, since time.Time) ([]guard.AuditHead, error)
	DueGrants(ctx context.Context, before time.Time) ([]guard.Grant, error)
	ListResources(ctx context.Context) ([]guard.Resource, error)
}

// Options say how to build a report.
type Options struct {
	// Now is the report's clock: exemptions and grant windows are judged at
	// it. Zero means time.Now().
	Now time.Time
	// Since, when set, limits the timeline, the times to detect and remediate,
	// and the resolved findings listed to what happened at or after it.
	Since time.Time
	// Title heads the page; empty gives "exportguard posture".
	Title string
	// Refresh, when positive, makes the HTML page reload itself this often
	// (the live dashboard).
	Refresh time.Duration
	// RowsPerGroup is how many findings of each group (a rule's findings in
	// one subscription) are listed in full, the rest by name: 0 means
	// DefaultRowsPerGroup, a negative number every finding. Unless every
	// finding is listed, at most MaxRowsFactor times as many are in all.
	RowsPerGroup int
}

// auditPage is how many audit records one ListAudit call reads.
const auditPage = 1000

// Posture is everything a report shows, computed once; HTML and Markdown
// render the same Posture, so they tell the same facts.
type Posture struct {
	Title       string
	GeneratedAt time.Time
	Since       time.Time // zero: all history
	Refresh     time.Duration
	Cloud       string
	Allowed     string // the policy's allowed set, in words

	Totals         Totals
	ByRule         []Count // open findings
	BySeverity     []Count
	BySubscription []Count
	ByRegion       []Count
	Findings       []Row // open and exempt, then resolved (within Since)
	// Groups are Findings by rule, then subscription, for reading: each
	// lists its first rows in full and the rest by name (Options.RowsPerGroup).
	Groups []RuleGroup
	// Ageing counts open findings by how long they have been open.
	Ageing []Count

	Timeline Timeline
	Detect   Stats // time to detect
	Remedy   Stats // time to remediate
	// StillOpen is how many openings (within Since) have not been resolved
	// or remediated yet, and OldestOpen the age at GeneratedAt of the oldest.
	StillOpen  int
	OldestOpen time.Duration

	Grants     []GrantRow
	Overstays  []OverstayRow
	Exemptions []ExemptionRow
	Residency  []RegionRow
	// OutsideResources counts the resources and replicas in regions outside
	// the allowed set, and OutsideRegions those regions.
	OutsideResources, OutsideRegions int
}

// Totals counts findings by status.
type Totals struct {
	Findings, Open, Exempt, Resolved int
}

// Count is one group of open findings.
type Count struct {
	Key   string
	Label string // Key as a person reads it (a region's display name, a subscription's name)
	N     int
	// Detail is the key beside a label that hides it: a subscription's ID
	// beside its name ("" when the label is the key, or says it).
	Detail string
}

// Row is one finding as the report lists it.
type Row struct {
	ID             string
	Rule           string
	Severity       string
	Status         string
	SubscriptionID string
	// SubscriptionName is the subscription's display name, as the last scan
	// that listed it read it from Resource Graph; "" when none is known.
	SubscriptionName string
	ResourceID       string
	ResourceName     string // the last segment of ResourceID
	ResourceGroup    string // "" when the ID names none
	Region           string // display name, or "" when unknown
	// Caller is who made the change that last opened the finding (a UPN, or
	// an app or object ID), as the audit trail or the finding's trigger
	// records it; for an access finding, the principal its evidence names.
	Caller string
	// OpenedAt is when the finding last opened (the trail's last transition
	// to open, else FirstSeen): the ageing of open findings counts from it.
	OpenedAt    time.Time
	FirstSeen   time.Time
	LastSeen    time.Time
	ResolvedAt  *time.Time
	Message     string
	Remediation string // e.g. "planned (dry-run)"; "" when none
	// RemedyStep is the last remediation record of the trail about the
	// finding ("approved", "failed", …) and RemedyAt its time; "" when none.
	RemedyStep string
	RemedyAt   time.Time
	PortalURL  string
}

// Timeline counts transitions in equal buckets.
type Timeline struct {
	Step     time.Duration
	Buckets  []Bucket
	Opened   int // totals over the buckets
	Resolved int
}

// Bucket is one step of the timeline, [Start, Start+Step).
type Bucket struct {
	Start            time.Time
	Opened, Resolved int
	// Backlog is how many findings were open at the bucket's end (or at the
	// report's time, for a bucket that ends after it), as the audit trail's
	// transitions tell: every transition before it counts, Since or not.
	Backlog int
}

// Stats summarises durations: nearest-rank percentiles.
type Stats struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// GrantRow is a JIT or PIM grant the store still watches.
type GrantRow struct {
	ID          string
	Kind        string // jit or pim
	ResourceID  string
	Resource    string // last segment
	PrincipalID string
	Start, End  time.Time // End: when it must be gone (window end plus grace)
	State       string    // within its window / past its window
	Overstaying bool      // an access.jit-overstay finding about it is open
}

// OverstayRow is one access.jit-overstay finding.
type OverstayRow struct {
	FindingID  string
	ResourceID string
	Resource   string
	Principal  string
	MustBeGone time.Time // zero when the evidence does not say
	DetectedAt time.Time
	ResolvedAt *time.Time
	Status     string
	Overstay   time.Duration // to ResolvedAt, or to the report's time while open
}

// ExemptionRow is one exemption of the policy.
type ExemptionRow struct {
	Resource   string
	Rules      string // "all rules" when it names none
	ExpiresOn  time.Time
	Reason     string
	ApprovedBy string
	Active     bool
	Left       string // "expires in 3d 4h" or "expired 2h ago"
	Exempt     int    // findings it exempts now
	Reopened   int    // open findings it covered until it expired
}

// RegionRow is one region where data lives, or that the policy allows by name.
type RegionRow struct {
	Name, DisplayName, Geography string
	Allowed                      bool
	Resources                    int // known resources located there
	Replicas                     int // replicas there that open residency.replication findings report
	Open                         int // open findings about resources located there
}

// Build reads the store and computes the posture under the policy.
func Build(ctx context.Context, src Source, pol *guard.Policy, opt Options) (*Posture, error) {
	if pol == nil {
		pol = &guard.Policy{}
	}
	now := opt.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	p := &Posture{Title: opt.Title, GeneratedAt: now, Since: opt.Since.UTC(), Refresh: opt.Refresh,
		Cloud: pol.Cloud, Allowed: pol.AllowedSummary()}
	if p.Title == "" {
		p.Title = "exportguard posture"
	}
	fs, err := src.ListFindings(ctx, guard.FindingFilter{})
	if err != nil {
		return nil, fmt.Errorf("report: list findings: %w", err)
	}
	resources, err := src.ListResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: list resources: %w", err)
	}
	grants, err := src.DueGrants(ctx, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return nil, fmt.Errorf("report: list grants: %w", err)
	}
	trail, err := readTrail(ctx, src)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*guard.Resource{}
	names := map[string]string{} // subscription (lower case) → display name
	for i := range resources {
		byKey[guard.IDKey(resources[i].ID)] = &resources[i]
		if sub, name, ok := guard.SubscriptionNameOf(&resources[i]); ok {
			names[sub] = name
		}
	}
	p.findings(fs, byKey, pol, trail, names)
	p.groups(opt.RowsPerGroup)
	p.timeline(trail)
	p.backlog(trail)
	p.ageing()
	p.times(trail, fs)
	p.access(grants, fs)
	p.exemptions(pol, fs)
	p.residency(pol, resources, fs, byKey)
	return p, nil
}

// transitions and what the times need from the audit trail.
type trail struct {
	transitions []transition // to open, resolved or exempt, and remediation.applied; each finding's in Seq order
	byEvent     map[string]time.Time
	byCorr      map[string]time.Time
	opened      map[string]transition // each finding's last transition to open
	remedy      map[string]step       // each finding's last remediation record
}

// step is a remediation record of the trail: its kind without the
// "remediation." prefix (planned, approved, applied, failed, …) and when.
type step struct {
	Kind string
	At   time.Time
}

type transition struct {
	At        time.Time
	Kind      string // open, resolved, exempt, remediated
	FindingID string
	Trigger   guard.Trigger // Caller: the transition's, else its change record's
}

// readTrail reads every partition's chain: a finding's records are all in its
// partition, in Seq order, so each finding's transitions are in order.
func readTrail(ctx context.Context, src Source) (*trail, error) {
	t := &trail{byEvent: map[string]time.Time{}, byCorr: map[string]time.Time{}, opened: map[string]transition{}, remedy: map[string]step{}}
	heads, err := src.AuditHeads(ctx, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("report: list the audit trail's partitions: %w", err)
	}
	for _, h := range heads {
		if h.Partition == guard.SealPartition {
			continue
		}
		if err := t.readPartition(ctx, src, h.Partition); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *trail) readPartition(ctx context.Context, src Source, partition string) error {
	var after int64
	for {
		recs, err := src.ListAudit(ctx, partition, after, auditPage)
		if err != nil {
			return fmt.Errorf("report: read the audit trail of %s after record %d: %w", partition, after, err)
		}
		for _, r := range recs {
			after = r.Seq
			switch r.Kind {
			case guard.AuditChange, guard.AuditSweep:
				var d guard.ChangeRecord
				if json.Unmarshal(r.Data, &d) != nil {
					continue
				}
				if !d.EventTime.IsZero() {
					if d.EventID != "" {
						if _, ok := t.byEvent[d.EventID]; !ok {
							t.byEvent[d.EventID] = d.EventTime
						}
					}
					if c := strings.ToLower(d.CorrelationID); c != "" {
						if _, ok := t.byCorr[c]; !ok {
							t.byCorr[c] = d.EventTime
						}
					}
				}
				for _, tr := range d.Transitions {
					switch tr.To {
					case guard.StatusOpen, guard.StatusResolved, guard.StatusExempt:
						x := transition{At: r.At.UTC(), Kind: string(tr.To), FindingID: tr.FindingID, Trigger: tr.Trigger}
						if x.Trigger.Caller == "" {
							x.Trigger.Caller = d.Caller
						}
						t.transitions = append(t.transitions, x)
						if tr.To == guard.StatusOpen {
							t.opened[tr.FindingID] = x
						}
					}
				}
			default:
				kind, ok := strings.CutPrefix(r.Kind, "remediation.")
				if !ok {
					continue
				}
				t.remedy[r.Subject] = step{Kind: kind, At: r.At.UTC()}
				if kind == "applied" {
					t.transitions = append(t.transitions, transition{At: r.At.UTC(), Kind: "remediated", FindingID: r.Subject})
				}
			}
		}
		if len(recs) < auditPage {
			return nil
		}
	}
}

var severityOrder = []string{"critical", "high", "medium", "low"}

func severityRank(s string) int {
	if i := slices.Index(severityOrder, s); i >= 0 {
		return i
	}
	return len(severityOrder)
}

func statusRank(s guard.Status) int {
	switch s {
	case guard.StatusOpen:
		return 0
	case guard.StatusExempt:
		return 1
	}
	return 2
}

func (p *Posture) findings(fs []guard.Finding, res map[string]*guard.Resource, pol *guard.Policy, t *trail, names map[string]string) {
	byRule, bySev, bySub, byReg := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, f := range fs {
		p.Totals.Findings++
		switch f.Status {
		case guard.StatusOpen:
			p.Totals.Open++
			byRule[f.Rule]++
			bySev[f.Severity]++
			bySub[f.SubscriptionID]++
			byReg[findingRegion(f, res)]++
		case guard.StatusExempt:
			p.Totals.Exempt++
		case guard.StatusResolved:
			p.Totals.Resolved++
		}
		if f.Status == guard.StatusResolved && !p.Since.IsZero() && (f.ResolvedAt == nil || f.ResolvedAt.Before(p.Since)) {
			continue
		}
		r := row(f, res, pol.Cloud, t)
		r.SubscriptionName = names[strings.ToLower(f.SubscriptionID)]
		p.Findings = append(p.Findings, r)
	}
	sort.SliceStable(p.Findings, func(i, j int) bool {
		a, b := p.Findings[i], p.Findings[j]
		if x, y := statusRank(guard.Status(a.Status)), statusRank(guard.Status(b.Status)); x != y {
			return x < y
		}
		if x, y := severityRank(a.Severity), severityRank(b.Severity); x != y {
			return x < y
		}
		if x, y := guard.IDKey(a.ResourceID), guard.IDKey(b.ResourceID); x != y {
			return x < y
		}
		return a.Rule < b.Rule
	})
	// Every rule and severity is listed, with zeros: a zero is a fact too.
	for _, r := range guard.RuleIDs {
		p.ByRule = append(p.ByRule, Count{Key: r, Label: r, N: byRule[r]})
		delete(byRule, r)
	}
	p.ByRule = append(p.ByRule, counts(byRule, nil)...)
	for _, s := range severityOrder {
		p.BySeverity = append(p.BySeverity, Count{Key: s, Label: s, N: bySev[s]})
		delete(bySev, s)
	}
	p.BySeverity = append(p.BySeverity, counts(bySev, nil)...)
	p.BySubscription = counts(bySub, nil)
	for i := range p.BySubscription {
		c := &p.BySubscription[i]
		if name := names[strings.ToLower(c.Key)]; name != "" {
			c.Label, c.Detail = name, c.Key
		}
	}
	p.ByRegion = counts(byReg, regionLabel)
}

// counts lists a map's groups, most first, then by key.
func counts(m map[string]int, label func(string) string) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		c := Count{Key: k, Label: k, N: n}
		if label != nil {
			c.Label = label(k)
		}
		if c.Label == "" {
			c.Label = "(unknown)"
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Key < out[j].Key
	})
	return out
}

func regionLabel(name string) string {
	if name == "" {
		return "(no region)"
	}
	if r, ok := region.Lookup(name); ok {
		return r.DisplayName
	}
	return name
}

func row(f guard.Finding, res map[string]*guard.Resource, cloud string, t *trail) Row {
	r := Row{ID: f.ID, Rule: f.Rule, Severity: f.Severity, Status: string(f.Status), SubscriptionID: f.SubscriptionID,
		ResourceID: f.ResourceID, ResourceName: lastSegment(f.ResourceID), ResourceGroup: resourceGroupOf(f.ResourceID),
		FirstSeen: f.FirstSeen.UTC(), LastSeen: f.LastSeen.UTC(), OpenedAt: f.FirstSeen.UTC(),
		ResolvedAt: f.ResolvedAt, Message: f.Message, PortalURL: portalURL(cloud, f.ResourceID)}
	if f.Status == guard.StatusOpen {
		r.Caller = f.Trigger.Caller // the trigger of its latest transition: the opening
	}
	if o, ok := t.opened[f.ID]; ok {
		r.OpenedAt = o.At
		if o.Trigger.Caller != "" {
			r.Caller = o.Trigger.Caller
		}
	}
	if r.Caller == "" {
		r.Caller = principalOf(f.Evidence)
	}
	if s, ok := t.remedy[f.ID]; ok && !s.At.Before(r.OpenedAt) { // about this opening, not an earlier one
		r.RemedyStep, r.RemedyAt = s.Kind, s.At
	}
	if reg := findingRegion(f, res); reg != "" {
		r.Region = regionLabel(reg)
	}
	if s := f.Remediation.Status; s != "" && s != "none" {
		r.Remediation = s
		if f.Remediation.Mode != "" {
			r.Remediation += " (" + f.Remediation.Mode + ")"
		}
	}
	return r
}

// findingRegion is where the finding's resource lives: the location of its
// last known state (or its parent's), else what the evidence says, as a
// programmatic region name; "" when unknown or global.
func findingRegion(f guard.Finding, res map[string]*guard.Resource) string {
	for id := f.ResourceID; id != ""; id = guard.ParentOf(id) {
		if r, ok := res[guard.IDKey(id)]; ok && r.Location != "" {
			return regionName(r.Location)
		}
	}
	for _, k := range []string{"location", "region", "primaryLocation"} {
		if s, ok := f.Evidence[k].(string); ok && s != "" {
			return regionName(s)
		}
	}
	return ""
}

func regionName(loc string) string {
	n := region.Normalize(loc)
	if n == "global" {
		return ""
	}
	return n
}

// portalURL links to a resource in the portal of the policy's cloud.
func portalURL(cloud, resourceID string) string {
	host := "portal.azure.com"
	if cloud == "AzureUSGovernment" {
		host = "portal.azure.us"
	}
	return "https://" + host + "/#@/resource" + resourceID
}

// resourceGroupOf is the resource group an ARM ID names, or "".
func resourceGroupOf(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			return parts[i+1]
		}
	}
	return ""
}

func lastSegment(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// timelineSteps are the bucket widths the timeline chooses from: the first
// that needs at most maxBuckets buckets.
var timelineSteps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}

const maxBuckets = 48

func (p *Posture) timeline(t *trail) {
	var first, last time.Time
	var ts []transition
	for _, tr := range t.transitions {
		if (tr.Kind != "open" && tr.Kind != "resolved") || tr.At.Before(p.Since) {
			continue
		}
		ts = append(ts, tr)
		if first.IsZero() || tr.At.Before(first) {
			first = tr.At
		}
		if tr.At.After(last) {
			last = tr.At
		}
	}
	if len(ts) == 0 {
		return
	}
	if !p.Since.IsZero() {
		first = p.Since
	}
	step := timelineSteps[len(timelineSteps)-1]
	for _, s := range timelineSteps {
		if int(last.Sub(first.Truncate(s))/s)+1 <= maxBuckets {
			step = s
			break
		}
	}
	start := first.Truncate(step)
	n := int(last.Sub(start)/step) + 1
	p.Timeline.Step = step
	p.Timeline.Buckets = make([]Bucket, n)
	for i := range p.Timeline.Buckets {
		p.Timeline.Buckets[i].Start = start.Add(time.Duration(i) * step)
	}
	for _, tr := range ts {
		i := int(tr.At.Sub(start) / step)
		if i < 0 || i >= n {
			continue
		}
		if tr.Kind == "open" {
			p.Timeline.Buckets[i].Opened++
			p.Timeline.Opened++
		} else {
			p.Timeline.Buckets[i].Resolved++
			p.Timeline.Resolved++
		}
	}
}

func (p *Posture) times(t *trail, fs []guard.Finding) {
	byID := map[string]*guard.Finding{}
	for i := range fs {
		byID[fs[i].ID] = &fs[i]
	}
	var detect, remedy []time.Duration
	openAt := map[string]time.Time{}
	for _, tr := range t.transitions {
		switch tr.Kind {
		case "open":
			if _, already := openAt[tr.FindingID]; already {
				continue
			}
			openAt[tr.FindingID] = tr.At
			if tr.At.Before(p.Since) {
				continue
			}
			if began, ok := violationBegan(tr, byID[tr.FindingID], t); ok && !began.After(tr.At) {
				detect = append(detect, tr.At.Sub(began))
			}
		case "resolved", "remediated", "exempt":
			at, ok := openAt[tr.FindingID]
			if !ok {
				continue
			}
			delete(openAt, tr.FindingID)
			if tr.Kind != "exempt" && !at.Before(p.Since) {
				remedy = append(remedy, tr.At.Sub(at))
			}
		}
	}
	for _, at := range openAt {
		if at.Before(p.Since) {
			continue
		}
		p.StillOpen++
		if age := p.GeneratedAt.Sub(at); age > p.OldestOpen {
			p.OldestOpen = age
		}
	}
	p.Detect, p.Remedy = stats(detect), stats(remedy)
}

// violationBegan is when the violation an opening reports began.
func violationBegan(tr transition, f *guard.Finding, t *trail) (time.Time, bool) {
	if tr.Trigger.Source == guard.SourceTimer && f != nil {
		for _, k := range []string{"mustBeClosedBy", "mustBeGoneBy"} {
			if at, ok := evidenceTime(f.Evidence[k]); ok {
				return at, true
			}
		}
		if ex, ok := guard.ExemptionOf(f.Evidence, guard.EvidenceExemptionExpired); ok {
			return ex.ExpiresOn.UTC(), true
		}
		return time.Time{}, false
	}
	if at, ok := t.byEvent[tr.Trigger.EventID]; ok && tr.Trigger.EventID != "" {
		return at, true
	}
	if c := strings.ToLower(tr.Trigger.CorrelationID); c != "" {
		if at, ok := t.byCorr[c]; ok {
			return at, true
		}
	}
	return time.Time{}, false
}

func evidenceTime(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	return at.UTC(), err == nil
}

// stats returns nearest-rank percentiles of ds.
func stats(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Stats{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: s[len(s)-1]}
}

func (p *Posture) access(grants []guard.Grant, fs []guard.Finding) {
	openGrant := map[string]bool{} // resource key + grant evidence, for "overstaying"
	for _, f := range fs {
		if f.Rule != guard.RuleJITOverstay {
			continue
		}
		o := OverstayRow{FindingID: f.ID, ResourceID: f.ResourceID, Resource: lastSegment(f.ResourceID), Status: string(f.Status),
			DetectedAt: f.FirstSeen.UTC(), ResolvedAt: f.ResolvedAt, Principal: principalOf(f.Evidence)}
		for _, k := range []string{"mustBeClosedBy", "mustBeGoneBy"} {
			if at, ok := evidenceTime(f.Evidence[k]); ok {
				o.MustBeGone = at
				break
			}
		}
		end := p.GeneratedAt
		if f.ResolvedAt != nil {
			end = f.ResolvedAt.UTC()
		}
		if !o.MustBeGone.IsZero() && end.After(o.MustBeGone) {
			o.Overstay = end.Sub(o.MustBeGone)
		}
		if f.Status == guard.StatusOpen {
			openGrant[guard.IDKey(f.ResourceID)] = true
		}
		p.Overstays = append(p.Overstays, o)
	}
	sort.SliceStable(p.Overstays, func(i, j int) bool {
		a, b := p.Overstays[i], p.Overstays[j]
		if (a.Status == "open") != (b.Status == "open") {
			return a.Status == "open"
		}
		return a.DetectedAt.After(b.DetectedAt)
	})
	for _, g := range grants {
		r := GrantRow{ID: g.ID, Kind: g.Kind, ResourceID: g.ResourceID, Resource: lastSegment(g.ResourceID), PrincipalID: g.PrincipalID,
			Start: g.Start.UTC(), End: g.End.UTC()}
		if p.GeneratedAt.Before(r.End) {
			r.State = "within its window"
		} else {
			r.State = "past its window, not yet seen gone"
			r.Overstaying = openGrant[guard.IDKey(g.ResourceID)]
		}
		p.Grants = append(p.Grants, r)
	}
}

func principalOf(ev map[string]any) string {
	for _, k := range []string{"principal", "principalName", "principalId", "requestor"} {
		if s, ok := ev[k].(string); ok && s != "" {
			return s
		}
	}
	if v, ok := ev["allowedSourceAddressPrefixes"].([]any); ok && len(v) > 0 {
		var parts []string
		for _, x := range v {
			parts = append(parts, fmt.Sprint(x))
		}
		return "from " + strings.Join(parts, ", ")
	}
	return ""
}

func (p *Posture) exemptions(pol *guard.Policy, fs []guard.Finding) {
	for _, e := range pol.Exemptions {
		r := ExemptionRow{Resource: e.Resource, ExpiresOn: e.ExpiresOn.UTC(), Reason: e.Reason, ApprovedBy: e.ApprovedBy,
			Rules: strings.Join(e.Rules, ", "), Active: p.GeneratedAt.Before(e.ExpiresOn)}
		if r.Rules == "" {
			r.Rules = "all rules"
		}
		if r.Active {
			r.Left = "expires in " + Human(e.ExpiresOn.Sub(p.GeneratedAt))
		} else {
			r.Left = "expired " + Human(p.GeneratedAt.Sub(e.ExpiresOn)) + " ago"
		}
		for _, f := range fs {
			if ex, ok := guard.ExemptionOf(f.Evidence, guard.EvidenceExemption); ok && f.Status == guard.StatusExempt && guard.SameID(ex.Resource, e.Resource) {
				r.Exempt++
			}
			if ex, ok := guard.ExemptionOf(f.Evidence, guard.EvidenceExemptionExpired); ok && f.Status == guard.StatusOpen && guard.SameID(ex.Resource, e.Resource) {
				r.Reopened++
			}
		}
		p.Exemptions = append(p.Exemptions, r)
	}
	sort.SliceStable(p.Exemptions, func(i, j int) bool { return p.Exemptions[i].ExpiresOn.Before(p.Exemptions[j].ExpiresOn) })
}

func (p *Posture) residency(pol *guard.Policy, resources []guard.Resource, fs []guard.Finding, byKey map[string]*guard.Resource) {
	rows := map[string]*RegionRow{}
	get := func(name string) *RegionRow {
		if r, ok := rows[name]; ok {
			return r
		}
		r := &RegionRow{Name: name, DisplayName: name, Allowed: pol.RegionAllowed(name)}
		if reg, ok := region.Lookup(name); ok {
			r.DisplayName, r.Geography = reg.DisplayName, reg.Geography
		}
		rows[name] = r
		return r
	}
	for _, r := range resources {
		if n := regionName(r.Location); n != "" && !r.Deleted {
			get(n).Resources++
		}
	}
	for _, name := range pol.AllowedRegions {
		if n := regionName(name); n != "" {
			get(n)
		}
	}
	for _, f := range fs {
		if f.Status != guard.StatusOpen {
			continue
		}
		if n := findingRegion(f, byKey); n != "" {
			get(n).Open++
		}
		if f.Rule == guard.RuleResidencyReplication {
			for _, n := range replicaRegions(f.Evidence) {
				get(n).Replicas++
			}
		}
	}
	for _, r := range rows {
		p.Residency = append(p.Residency, *r)
		if !r.Allowed && r.Resources+r.Replicas > 0 {
			p.OutsideResources += r.Resources + r.Replicas
			p.OutsideRegions++
		}
	}
	sort.Slice(p.Residency, func(i, j int) bool {
		a, b := p.Residency[i], p.Residency[j]
		if a.Allowed != b.Allowed {
			return !a.Allowed
		}
		return a.Name < b.Name
	})
}

// replicaRegions are the regions outside the allowed set that a
// residency.replication finding's evidence names as holding a replica.
func replicaRegions(ev map[string]any) []string {
	seen := map[string]bool{}
	var out []string
	add := func(v any) {
		if s, ok := v.(string); ok {
			if n := regionName(s); n != "" && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	add(ev["secondaryLocation"])
	add(ev["partnerLocation"])
	if v, ok := ev["outsideRegions"].([]any); ok {
		for _, x := range v {
			add(x)
		}
	}
	if v, ok := ev["partnerServers"].([]any); ok {
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				add(m["location"])
			}
		}
	}
	return out
}

// Human writes a duration for people: "850ms", "1.2s", "1m 37s", "45m",
// "3h 5m", "2d 4h".
func Human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	two := func(a int, ua string, b int, ub string) string {
		if b == 0 {
			return fmt.Sprintf("%d%s", a, ua)
		}
		return fmt.Sprintf("%d%s %d%s", a, ua, b, ub)
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", d.Seconds()), ".0") + "s"
	case d < time.Hour:
		return two(int(d.Minutes()), "m", int(d.Seconds())%60, "s")
	case d < 24*time.Hour:
		return two(int(d.Hours()), "h", int(d.Minutes())%60, "m")
	}
	return two(int(d.Hours())/24, "d", int(d.Hours())%24, "h")
}
