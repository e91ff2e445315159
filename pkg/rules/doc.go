// Package rules holds the export-control checks: pure functions of policy,
// resource state, previous state and clock (guard.Rule), and the check that
// the guard still sees what it checks (monitoring.activity-log: a
// subscription whose Activity Log no longer reaches the app's hub, or that has
// gone silent). They read resource JSON as ARM returns it (shapes and
// api-versions in research/azure-events.md §4) and never touch the network,
// the environment or the wall clock, so that replay and production give the
// same verdicts.
package rules

import "github.com/exportguard/exportguard/pkg/guard"

// All returns every rule exportguard runs, with the app's Event Hub not known
// (AllFor).
func All() []guard.Rule { return AllFor(EventHub{}) }

// AllFor returns every rule exportguard runs, monitoring.activity-log judging
// diagnostic settings against hub, the hub the app listens on (the wiring
// reads it from the app's settings; rules read no environment).
func AllFor(hub EventHub) []guard.Rule {
	var all []guard.Rule
	all = append(all, dataRules()...)        // residency, encryption at rest, transit
	all = append(all, accessRules()...)      // access by people
	all = append(all, ActivityLog{Hub: hub}) // monitoring: whether the guard still hears the subscription
	return all
}
