package report

import (
	_ "embed"
	"html/template"
	"io"
	"time"
)

//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"rfc":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"human": Human,
	"add":   func(a, b int) int { return a + b },
	"sub":   func(a, b int) int { return a - b },
}).Parse(pageTemplate))

// view is what the template renders: the posture and its charts.
type view struct {
	*Posture
	RefreshSeconds int
	Breakdowns     []breakdown
	TimelineChart  vbarChart
	BacklogChart   lineChart
	ResidencyChart hbarChart
	// OpenAll opens every group of findings; otherwise only the first rule
	// and its first subscription are open, and the rest say their counts.
	OpenAll bool
	// Grants and Overstays are the posture's, the first maxAccessRows of
	// each (the Markdown lists them all); More* say how many are left out.
	Grants                    []GrantRow
	Overstays                 []OverstayRow
	MoreGrants, MoreOverstays int
}

// maxAccessRows bounds the page's grant and overstay tables.
const maxAccessRows = 25

// openAllBelow is how many findings a page may list with every group open.
const openAllBelow = 50

// HTML writes the posture as one self-contained HTML page: inline CSS and SVG,
// no script, and no URL the page loads (a Content-Security-Policy meta tag
// forbids any); the only links are the findings' portal links, which load
// nothing until followed. Everything essential is readable without script:
// the groups of findings are <details> elements.
func (p *Posture) HTML(w io.Writer) error {
	v := view{Posture: p, RefreshSeconds: int(p.Refresh / time.Second), OpenAll: len(p.Findings) <= openAllBelow,
		TimelineChart: timelineChart(p.Timeline), BacklogChart: backlogChart(p.Timeline), ResidencyChart: regionChart(p.Residency)}
	if p.Refresh > 0 && v.RefreshSeconds < 1 {
		v.RefreshSeconds = 1
	}
	v.Grants, v.MoreGrants = firstOf(p.Grants, maxAccessRows)
	v.Overstays, v.MoreOverstays = firstOf(p.Overstays, maxAccessRows)
	v.Breakdowns = []breakdown{
		newBreakdown("by-severity", "By severity", "severity", p.BySeverity),
		newBreakdown("by-rule", "By rule", "rule", p.ByRule),
		newBreakdown("by-subscription", "By subscription", "subscription", p.BySubscription),
		newBreakdown("by-region", "By region", "region", p.ByRegion),
		newBreakdown("by-age", "By age (open since)", "open for", p.Ageing),
	}
	return page.Execute(w, v)
}

// firstOf returns the first n of xs and how many it left out.
func firstOf[T any](xs []T, n int) ([]T, int) {
	if len(xs) <= n {
		return xs, 0
	}
	return xs[:n], len(xs) - n
}
