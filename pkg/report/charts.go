package report

import (
	"fmt"
	"strings"
	"time"
)

// The charts are SVG drawn here, on the server, and put in the page as
// markup: nothing is fetched or run when the page is viewed. Each chart has a
// <title> and a <desc> that says every value in words (screen readers read
// them through aria-labelledby), every bar carries its number as text, and
// series differ by pattern (solid, hatched) and by name in a legend, never by
// colour alone. A table gives the same numbers. The breakdowns of open
// findings are tables whose number cells are drawn as bars (CSS only): one
// view that is both the chart and the table.

// hbarChart is a horizontal bar chart, one labelled bar per group.
type hbarChart struct {
	ID, Title, Desc string
	Width, Height   int
	LabelW          int // width of the label column
	Bars            []hbar
	Legend          []legendItem
}

type hbar struct {
	Label     string
	Value     int
	ValueText string // the number and any words beside it (e.g. "not allowed")
	Y, W      int
	TextX     int
	Fill      string // a pattern: url(#…)
}

// vbarChart is the timeline: two bars per bucket.
type vbarChart struct {
	ID, Title, Desc string
	Width, Height   int
	BaseY, Left     int
	Bars            []vbar
	Ticks           []tick
	MaxY            int
	MaxText         string
	Legend          []legendItem
}

type vbar struct {
	X, Y, W, H int
	Fill       string
	Title      string // the bar's tooltip and accessible name
	Value      int
	TextX      int
	TextY      int
}

type tick struct {
	X     int
	Label string
}

type legendItem struct {
	X     int
	Fill  string
	Label string
}

const (
	fillSolid = "url(#eg-solid)"
	fillHatch = "url(#eg-hatch)"
	fillDots  = "url(#eg-dots)"
	barH      = 22
	barGap    = 8
)

// lineChart is the open backlog over time: one point per timeline bucket.
type lineChart struct {
	ID, Title, Desc string
	Width, Height   int
	BaseY, Left     int
	MaxY            int
	MaxText         string
	Points          string // the polyline's points
	Dots            []vbar // X, Y: the point; Title, Value
	Ticks           []tick
}

// backlogChart draws the findings open at the end of each bucket as a line.
func backlogChart(t Timeline) lineChart {
	c := lineChart{ID: "chart-backlog", Title: "Open backlog over time", Width: 760, Height: 200, BaseY: 170, Left: 40, MaxY: 20}
	n := len(t.Buckets)
	if n == 0 {
		c.Desc = "No finding was opened or resolved in this period."
		return c
	}
	maxN := 1
	for _, b := range t.Buckets {
		maxN = max(maxN, b.Backlog)
	}
	c.MaxText = fmt.Sprint(maxN)
	slot := (c.Width - c.Left - 10) / n
	plot := c.BaseY - c.MaxY
	labelEvery := max(1, (n+7)/8)
	var pts, words []string
	for i, b := range t.Buckets {
		x := c.Left + i*slot + slot/2
		y := c.BaseY - b.Backlog*plot/maxN
		pts = append(pts, fmt.Sprintf("%d,%d", x, y))
		end := b.Start.Add(t.Step)
		c.Dots = append(c.Dots, vbar{X: x, Y: y, Value: b.Backlog, Title: fmt.Sprintf("open at the end of %s: %d", bucketLabel(b.Start, t.Step), b.Backlog)})
		if i%labelEvery == 0 {
			c.Ticks = append(c.Ticks, tick{X: c.Left + i*slot, Label: bucketLabel(b.Start, t.Step)})
		}
		if i == 0 || i == n-1 || b.Backlog != t.Buckets[i-1].Backlog {
			words = append(words, fmt.Sprintf("%s: %d", bucketLabel(end, t.Step), b.Backlog))
		}
	}
	c.Points = strings.Join(pts, " ")
	first, last := t.Buckets[0].Backlog, t.Buckets[n-1].Backlog
	trend := "unchanged"
	switch {
	case last < first:
		trend = fmt.Sprintf("shrinking, by %d", first-last)
	case last > first:
		trend = fmt.Sprintf("growing, by %d", last-first)
	}
	c.Desc = fmt.Sprintf("Findings open at the end of each step of %s: %d after the first step, %d after the last (%s). %s.",
		Human(t.Step), first, last, trend, strings.Join(words, "; "))
	return c
}

// barRow is one row of a breakdown table: a count and the bar drawn behind
// it, as a share of the table's largest count.
type barRow struct {
	Count
	Pct int
}

// breakdown is a small table of counts whose number cells are drawn as bars:
// the chart and its table in one, read by a screen reader as a table.
type breakdown struct {
	ID, Title, KeyName string
	Rows               []barRow
}

func newBreakdown(id, title, key string, cs []Count) breakdown {
	b := breakdown{ID: id, Title: title, KeyName: key}
	maxN := 0
	for _, c := range cs {
		maxN = max(maxN, c.N)
	}
	for _, c := range cs {
		r := barRow{Count: c}
		if maxN > 0 {
			r.Pct = c.N * 100 / maxN
		}
		b.Rows = append(b.Rows, r)
	}
	return b
}

// regionChart draws, per region, the resources located there plus replicas,
// solid when the policy allows the region and hatched (and labelled "NOT
// ALLOWED") when it does not.
func regionChart(rows []RegionRow) hbarChart {
	c := hbarChart{ID: "chart-residency", Title: "Where data lives, against where it is allowed", LabelW: 120}
	maxN := 0
	for _, r := range rows {
		maxN = max(maxN, r.Resources+r.Replicas)
		c.LabelW = max(c.LabelW, min(labelWidth(r.DisplayName), 320))
	}
	c.Width = c.LabelW + 400
	var words []string
	for i, r := range rows {
		n := r.Resources + r.Replicas
		verdict := "allowed"
		b := hbar{Label: r.DisplayName, Value: n, Y: 8 + i*(barH+barGap), Fill: fillSolid}
		if !r.Allowed {
			verdict = "NOT ALLOWED"
			b.Fill = fillHatch
		}
		b.ValueText = fmt.Sprintf("%d (%s)", n, verdict)
		if maxN > 0 {
			b.W = n * (c.Width - c.LabelW - 130) / maxN
		}
		b.TextX = c.LabelW + b.W + 6
		c.Bars = append(c.Bars, b)
		words = append(words, fmt.Sprintf("%s, %s: %d resource(s), %d replica(s)", r.DisplayName, strings.ToLower(verdict), r.Resources, r.Replicas))
	}
	c.Height = 16 + len(rows)*(barH+barGap) + 28
	c.Legend = []legendItem{{X: 0, Fill: fillSolid, Label: "allowed region"}, {X: 200, Fill: fillHatch, Label: "region not allowed"}}
	if len(rows) == 0 {
		words = append(words, "no resource with a region is known")
	}
	c.Desc = "Resources and replicas per region. " + strings.Join(words, "; ") + "."
	return c
}

// timelineChart draws findings opened (solid) and resolved (hatched) per bucket.
func timelineChart(t Timeline) vbarChart {
	c := vbarChart{ID: "chart-timeline", Title: "Findings opened and resolved over time", Width: 760, Height: 240, BaseY: 180, Left: 40}
	n := len(t.Buckets)
	c.Legend = []legendItem{{X: c.Left, Fill: fillSolid, Label: "opened"}, {X: c.Left + 140, Fill: fillHatch, Label: "resolved"}}
	if n == 0 {
		c.Desc = "No finding was opened or resolved in this period."
		return c
	}
	maxN := 1
	for _, b := range t.Buckets {
		maxN = max(maxN, b.Opened, b.Resolved)
	}
	c.MaxY, c.MaxText = 20, fmt.Sprint(maxN)
	slot := (c.Width - c.Left - 10) / n
	w := max(2, (slot-2)/2)
	plot := c.BaseY - 30
	labelEvery := max(1, (n+7)/8)
	var words []string
	for i, b := range t.Buckets {
		x := c.Left + i*slot
		for j, v := range []struct {
			n    int
			fill string
			verb string
		}{{b.Opened, fillSolid, "opened"}, {b.Resolved, fillHatch, "resolved"}} {
			h := v.n * plot / maxN
			bar := vbar{X: x + j*w, Y: c.BaseY - h, W: w, H: h, Fill: v.fill, Value: v.n,
				Title: fmt.Sprintf("%s: %d %s", bucketLabel(b.Start, t.Step), v.n, v.verb), TextX: x + j*w + w/2, TextY: c.BaseY - h - 3}
			c.Bars = append(c.Bars, bar)
		}
		if i%labelEvery == 0 {
			c.Ticks = append(c.Ticks, tick{X: x, Label: bucketLabel(b.Start, t.Step)})
		}
		if b.Opened > 0 || b.Resolved > 0 {
			words = append(words, fmt.Sprintf("%s: %d opened, %d resolved", bucketLabel(b.Start, t.Step), b.Opened, b.Resolved))
		}
	}
	c.Desc = fmt.Sprintf("%d finding(s) opened and %d resolved, in steps of %s from %s. %s.", t.Opened, t.Resolved, Human(t.Step),
		bucketLabel(t.Buckets[0].Start, t.Step), strings.Join(words, "; "))
	return c
}

// labelWidth is room enough for a label in the charts' 12px font.
func labelWidth(s string) int { return 7*len([]rune(s)) + 12 }

// bucketLabel names a bucket's start at the precision of its step.
func bucketLabel(at time.Time, step time.Duration) string {
	if step >= 24*time.Hour {
		return at.UTC().Format("2006-01-02")
	}
	return at.UTC().Format("01-02 15:04")
}
