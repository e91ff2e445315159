package guard

import "context"

// Transition is a finding changing state: opened, resolved, reopened, exempted,
// or an exemption expiring. Only transitions are told to people and acted on.
type Transition struct {
	Finding  Finding   // as stored after the transition
	From     Status    // "" for a new finding
	Verdict  Verdict   // the verdict that moved it
	Resource *Resource // the state judged, when there is one
	Previous *Resource // the state before it, when known
}

// Planner turns a transition into outbox items: a notification for each
// configured target, a remediation plan. Items need deterministic IDs (the
// finding, the transition and the target), so that a transition planned twice
// after a crash is enqueued once.
type Planner interface {
	Plan(ctx context.Context, t Transition) ([]OutboxItem, error)
}
