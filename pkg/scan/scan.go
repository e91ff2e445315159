// Package scan judges a whole estate, as `exportguard scan` and the reconcile
// timer both do (DESIGN 3.1, 1): events tell the guard what changed, this
// finds what exists, including what was there before the guard was installed.
// Resource Graph lists every resource of the types the rules judge, and the
// pipeline judges each row as a state an event carried
// (guard.Pipeline.Reconcile): it may open a finding, and a resolution it
// suggests is confirmed by an ARM read (DESIGN 3.6). ARM is read, through the
// ARM read budget, for what Resource Graph cannot say: each subscription's
// diagnostic settings, the open findings of the types it does not hold, and
// the resources the store knows that it no longer lists (gone, or not yet
// indexed: only ARM's 404 closes anything). Nothing is taken as gone after a
// scan that failed, nor in a subscription Resource Graph did not show. The
// subscriptions' display names Resource Graph gives are kept for the report
// (guard.TypeSubscriptionName).
package scan

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/resourcegraph"
	"github.com/exportguard/exportguard/pkg/resourcemanager"
)

// Graph is what a scan needs of Resource Graph (resourcegraph.Client).
type Graph interface {
	Scan(ctx context.Context, subscriptions, types []string, each func(*guard.Resource) error) (resourcegraph.Stats, error)
}

// Scanner scans subscriptions and judges what it finds.
type Scanner struct {
	Pipeline *guard.Pipeline
	Graph    Graph
	Log      *slog.Logger
	// Reads counts the ARM reads sent so far (the ARM client's budget); nil
	// when not known. Counted around each step, so exact only when nothing
	// else reads through the same client meanwhile (the scan command).
	Reads func() int64
	// Progress, when set, is called with the rows judged so far, after every
	// row and at the end of the rows (the command line decides by time when
	// to show it).
	Progress func(rows int)
}

// Report says what a scan did.
type Report struct {
	Subscriptions []string
	Graph         resourcegraph.Stats
	Summary       guard.Summary // everything judged, rows and ARM reads
	Rows          int           // Resource Graph rows judged
	Missing       int           // resources the store knows that Resource Graph no longer lists, read from ARM
	NotInGraph    int           // resources with a finding, of types Resource Graph does not hold, read from ARM
	Settings      int           // subscriptions whose diagnostic settings were read from ARM
	// ARM reads by step (when reads is known; -1 when not).
	ConfirmReads, MissingReads, NotInGraphReads, SettingsReads int64
	// Incomplete says why no resource was taken as possibly gone ("" when the
	// scan listed all it asked for).
	Incomplete string
}

// anyTypeProbe is a type no rule names: a rule that applies to it applies to
// every type (residency.location), and the scan then asks Resource Graph for
// every type (resourcegraph.AllTypes).
const anyTypeProbe = "Microsoft.ExportGuardProbe/anyType"

// JudgedTypes are the types the pipeline's enabled rules judge, for
// Resource Graph; settings says whether monitoring.activity-log wants the
// subscriptions' diagnostic settings, which are read from ARM. A rule that
// judges every type (residency.location) asks for every type of the Resources
// table (resourcegraph.AllTypes), not for the types of other tables, whose
// rows have no location (role assignments): those are asked for when another
// rule judges them.
func JudgedTypes(p *guard.Pipeline) (types []string, settings bool) {
	var all, some []guard.Rule
	for _, r := range p.Rules {
		switch {
		case p.Policy.RuleMode(r.ID()) == guard.ModeOff:
		case r.Applies(anyTypeProbe):
			all = append(all, r)
		default:
			some = append(some, r)
		}
	}
	if len(all) > 0 {
		types = append(types, resourcegraph.AllTypes)
	}
	judged := func(typ string) bool {
		return slices.ContainsFunc(some, func(r guard.Rule) bool { return r.Applies(typ) })
	}
	for _, t := range resourcemanager.PinnedTypes() {
		switch {
		case strings.EqualFold(t, guard.TypeDiagnosticSettings):
			settings = judged(guard.TypeDiagnosticSettings)
		case judged(t):
			types = append(types, t)
		}
	}
	return types, settings
}

// Run scans the subscriptions (lower-case GUIDs) and judges at now. The error
// joins what failed (the scan, reads not confirmed, the store); the report
// says what was done either way.
func (s *Scanner) Run(ctx context.Context, now time.Time, subs []string) (Report, error) {
	p := s.Pipeline
	rep := Report{Subscriptions: subs, ConfirmReads: -1, MissingReads: -1, NotInGraphReads: -1, SettingsReads: -1}
	types, settings := JudgedTypes(p)
	var errs []error

	// 1. Every row, judged as it arrives.
	seen := map[string]bool{}
	var scanErr error
	rows := func(yield func(*guard.Resource) bool) {
		rep.Graph, scanErr = s.Graph.Scan(ctx, subs, types, func(r *guard.Resource) error {
			seen[guard.IDKey(r.ID)] = true
			r.ObservedAt = now.UTC() // read by this scan, at its clock
			if !yield(r) {
				return errScanStopped
			}
			if rep.Rows++; s.Progress != nil {
				s.Progress(rep.Rows)
			}
			return nil
		})
	}
	before := s.readCount()
	sum, err := p.Reconcile(ctx, now, rows)
	rep.Summary.Add(sum)
	rep.Rows -= sum.Skipped
	rep.ConfirmReads = s.readsSince(before)
	if s.Progress != nil {
		s.Progress(rep.Rows)
	}
	if scanErr != nil && !errors.Is(scanErr, errScanStopped) {
		errs = append(errs, fmt.Errorf("scan: %w", scanErr))
	}
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case scanErr != nil:
		rep.Incomplete = "the scan did not finish: " + firstLine(scanErr.Error())
		s.log().Warn("scan incomplete: no resource is taken as gone because it was not listed", "error", scanErr.Error())
	case len(rep.Graph.Unseen) > 0:
		s.log().Warn("Resource Graph did not show these subscriptions (no read access, or no such subscription): their resources were not judged, and none is taken as gone",
			"subscriptions", rep.Graph.Unseen)
	}
	if ctx.Err() != nil {
		return rep, errors.Join(errs...)
	}
	if err := s.keepNames(ctx, now, rep.Graph.Names); err != nil {
		errs = append(errs, err)
	}

	asked := map[string]bool{}
	for _, sub := range subs {
		asked[sub] = true
	}
	for _, sub := range rep.Graph.Unseen {
		asked[sub] = false
	}

	// 2. What the store knows that Resource Graph no longer lists: ARM says.
	if scanErr == nil {
		ids, err := s.missing(ctx, types, asked, seen)
		if err != nil {
			return rep, errors.Join(append(errs, err)...)
		}
		rep.Missing = len(ids)
		if len(ids) > 0 {
			s.log().Info("resources known but no longer listed by Resource Graph: reading them from ARM", "resources", len(ids))
		}
		before := s.readCount()
		sum, err := p.Recheck(ctx, now, ids)
		rep.Summary.Add(sum)
		rep.MissingReads = s.readsSince(before)
		if err != nil {
			errs = append(errs, fmt.Errorf("known resources not listed: %w", err))
		}
	}

	// 3. Findings of the types Resource Graph does not hold: ARM says.
	ids, err := s.notInGraph(ctx, types, subs)
	if err != nil {
		return rep, errors.Join(append(errs, err)...)
	}
	rep.NotInGraph = len(ids)
	if len(rep.Graph.NotInGraph) > 0 {
		s.log().Info("types Resource Graph does not hold: their open findings are read from ARM",
			"types", rep.Graph.NotInGraph, "resources", len(ids))
	}
	before = s.readCount()
	sum, err = p.Recheck(ctx, now, ids)
	rep.Summary.Add(sum)
	rep.NotInGraphReads = s.readsSince(before)
	if err != nil {
		errs = append(errs, fmt.Errorf("types not in Resource Graph: %w", err))
	}

	// 4. Each subscription's diagnostic settings (monitoring.activity-log).
	if settings {
		ids = ids[:0]
		for _, sub := range subs {
			ids = append(ids, guard.DiagnosticSettingsID(sub))
		}
		rep.Settings = len(ids)
		before = s.readCount()
		sum, err = p.Recheck(ctx, now, ids)
		rep.Summary.Add(sum)
		rep.SettingsReads = s.readsSince(before)
		if err != nil {
			errs = append(errs, fmt.Errorf("diagnostic settings: %w", err))
		}
	}
	return rep, errors.Join(errs...)
}

// keepNames keeps the display names Resource Graph gave the subscriptions
// (guard.TypeSubscriptionName), for the report: one write per subscription
// whose name is new or changed. A name already kept stays when a scan does
// not see the subscription.
func (s *Scanner) keepNames(ctx context.Context, now time.Time, names map[string]string) error {
	subs := make([]string, 0, len(names))
	for sub := range names {
		subs = append(subs, sub)
	}
	slices.Sort(subs)
	var errs []error
	for _, sub := range subs {
		r := guard.NewSubscriptionName(sub, names[sub], now)
		if r == nil || !s.Pipeline.Policy.InScope(sub) {
			continue
		}
		kept, err := s.Pipeline.Store.GetResource(ctx, r.ID)
		switch {
		case err != nil && !errors.Is(err, guard.ErrNotFound):
			errs = append(errs, fmt.Errorf("read the kept name of subscription %s: %w", sub, err))
			continue
		case err == nil:
			if _, name, ok := guard.SubscriptionNameOf(kept); ok && name == names[sub] {
				continue
			}
		}
		if err := s.Pipeline.Store.PutResource(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("keep the name of subscription %s: %w", sub, err))
		}
	}
	return errors.Join(errs...)
}

// errScanStopped stops Resource Graph's scan when the pipeline stopped taking
// rows (it failed; its error says why).
var errScanStopped = errors.New("stopped: the rows could not be judged")

// missing returns the resources the store knows, in a subscription Resource
// Graph showed (asked[sub]), of a type the scan asks it for, that it did not
// list: their last known states and their open or exempt findings.
func (s *Scanner) missing(ctx context.Context, types []string, asked, seen map[string]bool) ([]string, error) {
	p := s.Pipeline
	var ids []string
	add := func(id, typ string) {
		key := guard.IDKey(id)
		if seen[key] || !asked[subOf(id)] || !p.Policy.InScope(subOf(id)) ||
			!resourcegraph.Covers(types, typ) || guard.IsDiagnosticSettingsID(id) {
			return
		}
		seen[key] = true // once
		ids = append(ids, id)
	}
	known, err := p.Store.ListResources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list known resources: %w", err)
	}
	for _, r := range known {
		if !r.Deleted && r.Type != guard.TypeHeard && r.Type != guard.TypeSubscriptionName {
			add(r.ID, r.Type)
		}
	}
	fs, err := openFindings(ctx, p.Store)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		add(f.ResourceID, guard.TypeOf(f.ResourceID))
	}
	return ids, nil
}

// notInGraph returns the resources with an open or exempt finding, in the
// subscriptions scanned, of a type Resource Graph does not hold (a SQL
// server's encryption protector, a Key Vault key, a JIT policy, a PIM
// schedule...): only ARM can say how they are.
func (s *Scanner) notInGraph(ctx context.Context, types []string, subs []string) ([]string, error) {
	p := s.Pipeline
	fs, err := openFindings(ctx, p.Store)
	if err != nil {
		return nil, err
	}
	var ids []string
	seen := map[string]bool{}
	for _, f := range fs {
		typ, key := guard.TypeOf(f.ResourceID), guard.IDKey(f.ResourceID)
		if typ == "" || seen[key] || !slices.Contains(subs, subOf(f.ResourceID)) ||
			!p.Policy.InScope(f.SubscriptionID) || resourcegraph.Covers(types, typ) || guard.IsDiagnosticSettingsID(f.ResourceID) {
			continue
		}
		seen[key] = true
		ids = append(ids, f.ResourceID)
	}
	return ids, nil
}

// openFindings lists the open and exempt findings.
func openFindings(ctx context.Context, st guard.Store) ([]guard.Finding, error) {
	var out []guard.Finding
	for _, status := range []guard.Status{guard.StatusOpen, guard.StatusExempt} {
		fs, err := st.ListFindings(ctx, guard.FindingFilter{Status: status})
		if err != nil {
			return nil, fmt.Errorf("list %s findings: %w", status, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

func (s *Scanner) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Scanner) readCount() int64 {
	if s.Reads == nil {
		return -1
	}
	return s.Reads()
}

func (s *Scanner) readsSince(before int64) int64 {
	if s.Reads == nil {
		return -1
	}
	return s.Reads() - before
}

// subOf is the subscription a resource ID names, in lower case.
func subOf(id string) string { return strings.ToLower(guard.SubscriptionOf(id)) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
