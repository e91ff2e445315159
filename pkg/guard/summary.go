package guard

import "log/slog"

// Summary counts what the pipeline did with one delivery or sweep.
type Summary struct {
	Changes     int // changes decoded
	Duplicates  int // already processed (at-least-once delivery)
	Skipped     int // not succeeded, out of scope, or no rule applies
	Rejected    int // kept as poison
	Ignored     int // event types of no interest
	Verdicts    int // rule verdicts reached
	Transitions int // findings opened, resolved, reopened or exempted
	// Unconfirmed counts compliant verdicts on a state an event carried that
	// would have resolved a finding: they resolve nothing until ARM confirms
	// them (DESIGN 3.6), and make the pipeline read the resource.
	Unconfirmed int
}

// Add adds another summary to this one.
func (s *Summary) Add(o Summary) {
	s.Changes += o.Changes
	s.Duplicates += o.Duplicates
	s.Skipped += o.Skipped
	s.Rejected += o.Rejected
	s.Ignored += o.Ignored
	s.Verdicts += o.Verdicts
	s.Transitions += o.Transitions
	s.Unconfirmed += o.Unconfirmed
}

// LogValue lets a summary be logged as a group of counts.
func (s Summary) LogValue() slog.Value {
	return slog.GroupValue(slog.Int("changes", s.Changes), slog.Int("duplicates", s.Duplicates),
		slog.Int("skipped", s.Skipped), slog.Int("rejected", s.Rejected), slog.Int("ignored", s.Ignored),
		slog.Int("verdicts", s.Verdicts), slog.Int("transitions", s.Transitions))
}
