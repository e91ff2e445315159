// Package rules holds the export-control checks: pure functions of policy,
// resource state, previous state and clock (guard.Rule). They read resource JSON
// as ARM returns it (shapes and api-versions in research/azure-events.md §4) and
// never touch the network or the wall clock, so that replay and production give
// the same verdicts.
package rules

import "github.com/exportguard/exportguard/pkg/guard"

// All returns every rule exportguard runs.
func All() []guard.Rule {
	var all []guard.Rule
	all = append(all, dataRules()...)   // residency, encryption at rest, transit
	all = append(all, accessRules()...) // access by people
	return all
}
