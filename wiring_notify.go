package main

import (
	"log/slog"

	"github.com/exportguard/exportguard/pkg/guard"
)

// notifyParts builds the notification planners and senders (Teams, Slack,
// CloudEvents webhook) the policy's notify targets ask for.
func notifyParts(pol *guard.Policy, st guard.Store, log *slog.Logger) ([]guard.Planner, map[string]guard.Sender, error) {
	return nil, nil, nil
}
