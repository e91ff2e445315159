package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exportguard/exportguard/pkg/guard"
)

// Exit statuses (DESIGN 3.1), so a pipeline can tell a refused command line
// and a gate from a failure.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2 // unknown verb or flag, missing or extra argument, a value the verb refuses
	ExitFailsOn = 3 // --fail-on SEVERITY: an open finding at or above it
)

// ExitError carries the exit status of an error other than 1.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageErrorf is the CLI's own refusal of its command line: exit 2.
func usageErrorf(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// exitCode is the status err ends the process with.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*ExitError](err); ok {
		return e.Code
	}
	return ExitFailed
}

// markRuns wraps the RunE of cmd and every verb under it so that an error
// cobra returns before any verb ran (unknown verb, unknown flag, the Args
// check, mutually exclusive or required flags) is a usage error.
func markRuns(cmd *cobra.Command, ran *bool) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			*ran = true
			return run(c, args)
		}
	}
	for _, sub := range cmd.Commands() {
		markRuns(sub, ran)
	}
}

// severities are the policy's severities, lowest first.
var severities = []string{"low", "medium", "high", "critical"}

const failOnFlagHelp = "exit 3 when an open finding at or above this severity exists after the run: low, medium, high or critical"

// checkFailOn refuses a --fail-on value that is not a severity.
func checkFailOn(failOn string) error {
	if failOn != "" && !slices.Contains(severities, failOn) {
		return usageErrorf("--fail-on %q: want low, medium, high or critical", failOn)
	}
	return nil
}

// failOnGate is the exit-3 error when fs holds an open finding at or above
// failOn (nil when failOn is empty or none does). Resolved and exempt
// findings never count.
func failOnGate(failOn string, fs []guard.Finding) error {
	if failOn == "" {
		return nil
	}
	floor := slices.Index(severities, failOn)
	n := 0
	for _, f := range fs {
		if f.Status == guard.StatusOpen && slices.Index(severities, strings.ToLower(f.Severity)) >= floor {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return &ExitError{Code: ExitFailsOn, Err: fmt.Errorf("%d open finding(s) at or above %s (--fail-on %s)", n, failOn, failOn)}
}
