package functions

import "github.com/exportguard/exportguard/pkg/guard"

// InvocationSummary is what the pipeline made of an invocation, in numbers: the
// Summary field of the handler's answer (invocationResponse), which a caller
// standing in for the host (replay --via to exportguard serve) reads instead
// of the Logs, which are for people.
type InvocationSummary struct {
	Changes     int `json:"changes"`     // changes accepted (decoded)
	Duplicates  int `json:"duplicates"`  // already processed: at-least-once delivery
	Skipped     int `json:"skipped"`     // not succeeded, out of scope, or no rule applies
	Rejected    int `json:"rejected"`    // input that could not be read, kept as poison
	Ignored     int `json:"ignored"`     // event types of no interest
	Verdicts    int `json:"verdicts"`    // rule verdicts reached
	Transitions int `json:"transitions"` // findings opened, resolved, reopened or exempted
}

// summaryOf is s on the wire; kept counts the message bodies the handler kept
// as poison itself, unread (over MaxMessageBytes).
func summaryOf(s guard.Summary, kept int) *InvocationSummary {
	return &InvocationSummary{
		Changes: s.Changes, Duplicates: s.Duplicates, Skipped: s.Skipped, Rejected: s.Rejected + kept,
		Ignored: s.Ignored, Verdicts: s.Verdicts, Transitions: s.Transitions,
	}
}
