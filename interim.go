package main

import (
	"io"
	"log/slog"

	"github.com/robfig/cron/v3"

	"github.com/exportguard/exportguard/internal/cli"
)

// record, replay --via and replay --to-eventhub stay in this package until
// pkg/session has landed (issue 17); then they move to internal/cli beside the
// other verbs, and this file goes. interimVerbs is how main wires them in;
// the rest is what they use of the cli package.
func interimVerbs() cli.Interim {
	return cli.Interim{
		Record: newRecordCommand,
		Via:    replayVia, ViaHelp: viaFlagHelp,
		ToEventHub: replayToEventHub, ToEventHubHelp: toEventHubFlagHelp,
	}
}

func newLogger(w io.Writer, level string, text bool) (*slog.Logger, error) {
	return cli.NewLogger(w, level, text)
}

func sweepSchedule() (cron.Schedule, error) {
	return (&cli.App{Functions: functionsFS}).SweepSchedule()
}

func reconcileSchedule() (cron.Schedule, error) {
	return (&cli.App{Functions: functionsFS}).ReconcileSchedule()
}

func isTerminal(w io.Writer) bool { return cli.IsTerminal(w) }
