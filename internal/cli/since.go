package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// parseSince reads --since: an RFC 3339 time, or a duration back from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := guard.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time (2026-11-02T09:00:00Z) or a duration (90m, PT2H)", s)
	}
	return now.Add(-d).UTC(), nil
}
