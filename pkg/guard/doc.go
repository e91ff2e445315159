// Package guard is the centre of exportguard: the domain types (Change, Resource,
// Finding, Policy, Rule), the small interfaces the pipeline needs from the outside
// world (Store, ResourceReader), and the pipeline itself.
//
// It imports no SDK. Every outside system (Event Hubs, Event Grid, ARM, SQLite,
// Cosmos DB, the Functions host) lives in a package of its own that imports this
// one and speaks in its terms, so that the verdicts an auditor reads come from one
// place whether an event arrived live or from a recorded session.
package guard
