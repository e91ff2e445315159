package main

import (
	"log/slog"

	"github.com/exportguard/exportguard/pkg/guard"
)

// remediateParts builds the remediation planner and executor the policy's
// remediation mode asks for.
func remediateParts(pol *guard.Policy, st guard.Store, log *slog.Logger) ([]guard.Planner, map[string]guard.Sender, error) {
	return nil, nil, nil
}
