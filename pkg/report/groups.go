package report

import (
	"sort"
	"strings"
)

// A baseline scan opens thousands of findings at once; a page that lists each
// in full is megabytes long and takes seconds to open. So the findings are
// grouped by rule, then subscription, each group saying its counts, and a
// group lists its first rows in full (open first, most severe first) and the
// rest by name, per resource group: every finding is on the page, and the
// page stays small.

// DefaultRowsPerGroup is how many findings of a group are listed in full,
// and MaxRowsFactor times it how many in all, unless Options says otherwise.
const (
	DefaultRowsPerGroup = 25
	MaxRowsFactor       = 40
)

// RuleGroup is one rule's findings.
type RuleGroup struct {
	Rule string
	GroupCounts
	Subs []SubGroup
}

// SubGroup is one rule's findings in one subscription.
type SubGroup struct {
	SubscriptionID   string
	SubscriptionName string // "" when none is known
	GroupCounts
	Rows []Row // listed in full
	// More are the findings not listed in full, by resource group, and
	// MoreN how many they are.
	More  []NameList
	MoreN int
}

// GroupCounts are a group's findings by status, and the most severe of its
// open findings ("" when none is open).
type GroupCounts struct {
	Open, Exempt, Resolved int
	Worst                  string
}

// NameList names findings of one resource group in short: the resource's
// name, marked when the finding is not open.
type NameList struct {
	ResourceGroup string
	Names         []string
}

func (c *GroupCounts) add(r Row) {
	switch r.Status {
	case "open":
		c.Open++
		if c.Worst == "" || severityRank(r.Severity) < severityRank(c.Worst) {
			c.Worst = r.Severity
		}
	case "exempt":
		c.Exempt++
	default:
		c.Resolved++
	}
}

// shortName is a finding's resource as the compact list names it: ◐ exempt,
// ○ resolved, as the rows' status column marks them.
func shortName(r Row) string {
	switch r.Status {
	case "exempt":
		return "◐ " + r.ResourceName
	case "resolved":
		return "○ " + r.ResourceName
	}
	return r.ResourceName
}

// groups fills Groups from Findings (already in reading order).
func (p *Posture) groups(perGroup int) {
	budget := -1 // rows in full left on the page; -1: no limit
	switch {
	case perGroup == 0:
		perGroup = DefaultRowsPerGroup
		budget = perGroup * MaxRowsFactor
	case perGroup > 0:
		budget = perGroup * MaxRowsFactor
	}
	byRule := map[string]*RuleGroup{}
	bySub := map[string]map[string]*SubGroup{}
	for _, r := range p.Findings {
		g := byRule[r.Rule]
		if g == nil {
			g = &RuleGroup{Rule: r.Rule}
			byRule[r.Rule] = g
			bySub[r.Rule] = map[string]*SubGroup{}
		}
		g.add(r)
		key := strings.ToLower(r.SubscriptionID)
		s := bySub[r.Rule][key]
		if s == nil {
			s = &SubGroup{SubscriptionID: r.SubscriptionID, SubscriptionName: r.SubscriptionName}
			bySub[r.Rule][key] = s
		}
		s.add(r)
		s.Rows = append(s.Rows, r)
	}
	for _, g := range byRule {
		for _, s := range bySub[g.Rule] {
			g.Subs = append(g.Subs, *s)
		}
		sort.Slice(g.Subs, func(i, j int) bool {
			return before(g.Subs[i].GroupCounts, g.Subs[j].GroupCounts, g.Subs[i].SubscriptionID, g.Subs[j].SubscriptionID)
		})
		p.Groups = append(p.Groups, *g)
	}
	sort.Slice(p.Groups, func(i, j int) bool {
		return before(p.Groups[i].GroupCounts, p.Groups[j].GroupCounts, p.Groups[i].Rule, p.Groups[j].Rule)
	})
	// Each group's rows are in reading order; the budget goes to the groups
	// in the order they are shown.
	for gi := range p.Groups {
		for si := range p.Groups[gi].Subs {
			s := &p.Groups[gi].Subs[si]
			rs := s.Rows
			n := len(rs)
			if perGroup >= 0 {
				n = min(n, perGroup)
			}
			if budget >= 0 {
				n = min(n, budget)
				budget -= n
			}
			s.Rows = rs[:n]
			s.MoreN = len(rs) - n
			s.More = nameLists(rs[n:])
		}
	}
}

// before orders groups: those with the most severe open finding first, then
// the most open, then by name.
func before(a, b GroupCounts, an, bn string) bool {
	ra, rb := severityRank(a.Worst), severityRank(b.Worst)
	if a.Worst == "" {
		ra = len(severityOrder) + 1
	}
	if b.Worst == "" {
		rb = len(severityOrder) + 1
	}
	if ra != rb {
		return ra < rb
	}
	if a.Open != b.Open {
		return a.Open > b.Open
	}
	return an < bn
}

// nameLists lists rows by resource group (sorted), names in row order.
func nameLists(rs []Row) []NameList {
	idx := map[string]int{}
	var out []NameList
	for _, r := range rs {
		i, ok := idx[r.ResourceGroup]
		if !ok {
			i = len(out)
			idx[r.ResourceGroup] = i
			out = append(out, NameList{ResourceGroup: r.ResourceGroup})
		}
		out[i].Names = append(out[i].Names, shortName(r))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ResourceGroup < out[j].ResourceGroup })
	return out
}
