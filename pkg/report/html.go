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

// openChart is one chart of open findings with its table.
type openChart struct {
	Chart   hbarChart
	KeyName string
	Counts  []Count
}

// view is what the template renders: the posture and its charts.
type view struct {
	*Posture
	RefreshSeconds int
	OpenCharts     []openChart
	TimelineChart  vbarChart
	ResidencyChart hbarChart
}

// HTML writes the posture as one self-contained HTML page: inline CSS and SVG,
// no script, and no URL the page loads (a Content-Security-Policy meta tag
// forbids any); the only links are the findings' portal links, which load
// nothing until followed.
func (p *Posture) HTML(w io.Writer) error {
	v := view{Posture: p, RefreshSeconds: int(p.Refresh / time.Second),
		TimelineChart: timelineChart(p.Timeline), ResidencyChart: regionChart(p.Residency)}
	if p.Refresh > 0 && v.RefreshSeconds < 1 {
		v.RefreshSeconds = 1
	}
	v.OpenCharts = []openChart{
		{countChart("chart-rule", "Open findings by rule", "Open findings per rule", p.ByRule), "rule", p.ByRule},
		{countChart("chart-severity", "Open findings by severity", "Open findings per severity", p.BySeverity), "severity", p.BySeverity},
		{countChart("chart-subscription", "Open findings by subscription", "Open findings per subscription", p.BySubscription), "subscription", p.BySubscription},
		{countChart("chart-region", "Open findings by region", "Open findings per region of the resource", p.ByRegion), "region", p.ByRegion},
	}
	return page.Execute(w, v)
}
