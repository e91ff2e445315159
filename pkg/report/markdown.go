package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Markdown writes the same facts as HTML, as Markdown for a ticket: the
// charts become tables.
func (p *Posture) Markdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	pf := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

	pf("# %s\n\n", md(p.Title))
	pf("Generated %s. Cloud **%s**; allowed: **%s**; ", ts(p.GeneratedAt), md(p.Cloud), md(p.Allowed))
	if p.Since.IsZero() {
		pf("period: all recorded history.\n\n")
	} else {
		pf("period: since %s.\n\n", ts(p.Since))
	}
	pf("**%d open**, %d exempt, %d resolved; %d finding(s) in all.\n\n", p.Totals.Open, p.Totals.Exempt, p.Totals.Resolved, p.Totals.Findings)

	pf("## Open findings\n\n")
	for _, g := range []struct {
		name string
		cs   []Count
	}{{"severity", p.BySeverity}, {"rule", p.ByRule}, {"subscription", p.BySubscription}, {"region", p.ByRegion}, {"open for", p.Ageing}} {
		pf("| %s | open |\n| --- | ---: |\n", g.name)
		for _, c := range g.cs {
			pf("| %s | %d |\n", md(withDetail(c.Label, c.Detail)), c.N)
		}
		if len(g.cs) == 0 {
			pf("| (none) | 0 |\n")
		}
		pf("\n")
	}

	pf("## Timeline\n\n%d finding(s) opened and %d resolved", p.Timeline.Opened, p.Timeline.Resolved)
	if p.Timeline.Step > 0 {
		pf(", in steps of %s", Human(p.Timeline.Step))
	}
	pf(".\n\n")
	if len(p.Timeline.Buckets) > 0 {
		first, last := p.Timeline.Buckets[0].Backlog, p.Timeline.Buckets[len(p.Timeline.Buckets)-1].Backlog
		pf("Open backlog: %d at the end of the first step, %d at the end of the last.\n\n", first, last)
		pf("| from (UTC) | opened | resolved | open at its end |\n| --- | ---: | ---: | ---: |\n")
		for _, bk := range p.Timeline.Buckets {
			if bk.Opened > 0 || bk.Resolved > 0 {
				pf("| %s | %d | %d | %d |\n", ts(bk.Start), bk.Opened, bk.Resolved, bk.Backlog)
			}
		}
		pf("| **total** | **%d** | **%d** | |\n\n", p.Timeline.Opened, p.Timeline.Resolved)
	}

	pf("## Time to detect and time to remediate\n\n| measure | measured | p50 | p90 | p99 | longest |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, m := range []struct {
		name string
		s    Stats
	}{{"time to detect", p.Detect}, {"time to remediate", p.Remedy}} {
		if m.s.N == 0 {
			pf("| %s | 0 | — | — | — | — |\n", m.name)
			continue
		}
		pf("| %s | %d | %s | %s | %s | %s |\n", m.name, m.s.N, Human(m.s.P50), Human(m.s.P90), Human(m.s.P99), Human(m.s.Max))
	}
	pf("\n%d opening(s) not resolved yet", p.StillOpen)
	if p.StillOpen > 0 {
		pf("; the oldest has been open %s", Human(p.OldestOpen))
	}
	pf(". Percentiles are nearest-rank.\n\n")

	pf("## Findings by rule, then subscription\n\n")
	pf("Open and exempt findings, then those resolved; most severe first. Each group lists its first findings in full and the rest by name, per resource group (◐ exempt, ○ resolved). A subscription is shown by the display name its last scan read from Resource Graph, with its ID; one no scan has named, by its ID.\n")
	for _, g := range p.Groups {
		pf("\n### `%s`: %s\n", g.Rule, mdCounts(g.GroupCounts))
		for _, s := range g.Subs {
			pf("\n#### Subscription %s: %s\n\n", md(withDetail(s.SubscriptionName, s.SubscriptionID)), mdCounts(s.GroupCounts))
			if len(s.Rows) > 0 {
				pf("| status | severity | resource | resource group | region | who changed it | remediation | first seen | resolved | what is wrong |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
			}
			for _, r := range s.Rows {
				resolved := "—"
				if r.ResolvedAt != nil {
					resolved = ts(*r.ResolvedAt)
				}
				remedy := orDash(r.Remediation)
				if r.RemedyStep != "" {
					remedy += " (last step: " + r.RemedyStep + ")"
				}
				pf("| %s | %s | [%s](%s) | %s | %s | %s | %s | %s | %s | %s |\n", r.Status, md(r.Severity), md(r.ResourceName), r.PortalURL,
					md(orDash(r.ResourceGroup)), md(orDash(r.Region)), md(orDash(r.Caller)), md(remedy), ts(r.FirstSeen), resolved, md(r.Message))
			}
			if s.MoreN > 0 {
				if len(s.Rows) > 0 {
					pf("\n%d more, by resource group:\n\n", s.MoreN)
				} else {
					pf("%d finding(s), by resource group:\n\n", s.MoreN)
				}
				for _, l := range s.More {
					rg := l.ResourceGroup
					if rg == "" {
						rg = "(no resource group)"
					}
					pf("- **%s** (%d): %s\n", md(rg), len(l.Names), md(strings.Join(l.Names, ", ")))
				}
			}
		}
	}
	if len(p.Groups) == 0 {
		pf("\nNo findings.\n")
	}

	pf("\n## Just-in-time access\n\n### Grants being watched (%d)\n\n", len(p.Grants))
	if len(p.Grants) > 0 {
		pf("| kind | resource | principal | from | must be gone by | state |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, g := range p.Grants {
			state := g.State
			if g.Overstaying {
				state += " (overstaying)"
			}
			pf("| %s | %s | %s | %s | %s | %s |\n", md(g.Kind), md(g.Resource), md(orDash(g.PrincipalID)), ts(g.Start), ts(g.End), state)
		}
		pf("\n")
	}
	pf("### Overstays (%d)\n\n", len(p.Overstays))
	if len(p.Overstays) > 0 {
		pf("| status | resource | who | must have been gone by | detected | closed | overstayed |\n| --- | --- | --- | --- | --- | --- | ---: |\n")
		for _, o := range p.Overstays {
			must, closed := "—", "still open"
			if !o.MustBeGone.IsZero() {
				must = ts(o.MustBeGone)
			}
			if o.ResolvedAt != nil {
				closed = ts(*o.ResolvedAt)
			}
			pf("| %s | %s | %s | %s | %s | %s | %s |\n", o.Status, md(o.Resource), md(orDash(o.Principal)), must, ts(o.DetectedAt), closed, Human(o.Overstay))
		}
		pf("\n")
	}

	pf("## Exemptions (%d)\n\n", len(p.Exemptions))
	if len(p.Exemptions) > 0 {
		pf("| scope | rules | expires | state | exempt now | open again since it expired | reason | approved by |\n| --- | --- | --- | --- | ---: | ---: | --- | --- |\n")
		for _, e := range p.Exemptions {
			state := e.Left
			if e.Active {
				state = "active, " + e.Left
			}
			pf("| `%s` | %s | %s | %s | %d | %d | %s | %s |\n", e.Resource, md(e.Rules), ts(e.ExpiresOn), state, e.Exempt, e.Reopened, md(e.Reason), md(e.ApprovedBy))
		}
		pf("\n")
	}

	pf("## Where data lives, and where it may\n\nAllowed: **%s**. ", md(p.Allowed))
	if p.OutsideRegions > 0 {
		pf("**%d resource(s) and replica(s) in %d region(s) outside the allowed set.**\n\n", p.OutsideResources, p.OutsideRegions)
	} else {
		pf("Nothing is known to live outside the allowed set.\n\n")
	}
	pf("| region | geography | allowed | resources there | replicas there (open findings) | open findings there |\n| --- | --- | --- | ---: | ---: | ---: |\n")
	for _, r := range p.Residency {
		allowed := "yes"
		if !r.Allowed {
			allowed = "**NO**"
		}
		pf("| %s | %s | %s | %d | %d | %d |\n", md(r.DisplayName), md(orDash(r.Geography)), allowed, r.Resources, r.Replicas, r.Open)
	}
	if len(p.Residency) == 0 {
		pf("| — | | | 0 | 0 | 0 |\n")
	}
	pf("\nTimes are UTC. Time to detect runs from the change's event time (or, for the sweep, the moment a grant had to be gone or an exemption expired) to the finding.open record; time to remediate from that record to the next finding.resolved or remediation.applied record.\n")
	return b.Flush()
}

// md makes text safe in a Markdown table cell.
func md(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ", "|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
	return strings.TrimSpace(s)
}

// mdCounts says a group's counts.
func mdCounts(c GroupCounts) string {
	s := fmt.Sprintf("**%d open**", c.Open)
	if c.Worst != "" {
		s += " (worst: " + c.Worst + ")"
	}
	return s + fmt.Sprintf(", %d exempt, %d resolved", c.Exempt, c.Resolved)
}

// withDetail is "label (detail)", or the one of them that is set.
func withDetail(label, detail string) string {
	switch {
	case label == "":
		return detail
	case detail == "":
		return label
	}
	return label + " (" + detail + ")"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
