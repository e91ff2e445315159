package cli

import (
	"io"
	"log/slog"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
)

// Interim holds the verbs the root package still owns while pkg/session takes
// over the session format (issue 17): record, replay --via and replay
// --to-eventhub. main wires them in; they move here, and this file goes, once
// that work has landed.
type Interim struct {
	Record     func() *cobra.Command
	Via        func(cmd *cobra.Command, target string, sessions []string) error
	ToEventHub func(cmd *cobra.Command, hub, policyPath string, sessions []string) error
	// The help of replay's --via and --to-eventhub flags.
	ViaHelp, ToEventHubHelp string
}

// NewLogger is newLogger, for the verbs Interim wires in.
func NewLogger(w io.Writer, level string, text bool) (*slog.Logger, error) {
	return newLogger(w, level, text)
}

// SweepSchedule and ReconcileSchedule are the timers' schedules, for the verbs
// Interim wires in.
func (a *App) SweepSchedule() (cron.Schedule, error)     { return a.sweepSchedule() }
func (a *App) ReconcileSchedule() (cron.Schedule, error) { return a.reconcileSchedule() }

// IsTerminal is isTerminal, for the verbs Interim wires in.
func IsTerminal(w io.Writer) bool { return isTerminal(w) }

// NewPipeline is newPipeline, for the tests of the verbs Interim wires in.
func (a *App) NewPipeline(st guard.Store, reader guard.ResourceReader, pol *guard.Policy, log *slog.Logger) (*guard.Pipeline, error) {
	return a.newPipeline(st, reader, pol, log)
}
