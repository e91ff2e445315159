package cli

// One log format for every verb: --log-format text|json|auto on the root
// command, auto being text when stderr is a terminal (a person reads it) and
// JSON otherwise (the Functions host, Application Insights, a CI job's log).

import (
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/spf13/cobra"
)

// logFormat is a --log-format value; Set refuses any other (exit 2).
type logFormat string

const (
	logText logFormat = "text"
	logJSON logFormat = "json"
	logAuto logFormat = "auto"
)

func (f *logFormat) String() string { return string(*f) }
func (f *logFormat) Type() string   { return "text|json|auto" }
func (f *logFormat) Set(v string) error {
	if !slices.Contains([]logFormat{logText, logJSON, logAuto}, logFormat(v)) {
		return fmt.Errorf("want text, json or auto")
	}
	*f = logFormat(v)
	return nil
}

const logFormatFlag = "log-format"

// addLogFormatFlag adds --log-format to root, for every verb.
func addLogFormatFlag(root *cobra.Command) {
	f := logAuto
	root.PersistentFlags().Var(&f, logFormatFlag, "log format on stderr, for every verb: text, json, or auto (text when stderr is a terminal, JSON otherwise)")
}

// textLogs reports whether cmd logs text: --log-format text, or auto with
// stderr a terminal.
func (a *App) textLogs(cmd *cobra.Command) bool {
	f := logAuto
	if fl := cmd.Root().PersistentFlags().Lookup(logFormatFlag); fl != nil {
		f = logFormat(fl.Value.String())
	}
	switch f {
	case logText:
		return true
	case logJSON:
		return false
	}
	return isTerminal(cmd.ErrOrStderr())
}

// logger is cmd's logger on its stderr at level, in the format --log-format
// says. In the process (App.DefaultLogger) it is slog's default too, so that
// a package that logs to slog.Default, and the log package, write the same
// format to the same place.
func (a *App) logger(cmd *cobra.Command, level string) (*slog.Logger, error) {
	return a.loggerTo(cmd, cmd.ErrOrStderr(), level)
}

// loggerTo is logger writing to w: the verb's stderr wrapped so that a log line
// first clears the progress line (progress.go).
func (a *App) loggerTo(cmd *cobra.Command, w io.Writer, level string) (*slog.Logger, error) {
	l, err := newLogger(w, level, a.textLogs(cmd))
	if err != nil {
		return nil, err
	}
	if a.DefaultLogger {
		slog.SetDefault(l)
	}
	return l, nil
}

// newLogger logs to w at the level named (debug, info, warn, error): text for
// a person at a terminal, without the time (a replay's output must not depend
// on the wall clock), or JSON for the Functions host and Application Insights.
func newLogger(w io.Writer, level string, text bool) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if text {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
