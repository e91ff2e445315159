package resourcegraph

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exportguard/exportguard/internal/retry"
)

// Resource Graph's throttling headers, in every answer: "x-ms-user-quota-remaining
// (int): The remaining resource quota for the user. This value maps to query
// count. x-ms-user-quota-resets-after (hh:mm:ss): The time duration until a
// user's quota consumption is reset." When the quota is 0, wait resets-after
// before the next query; "each paginated query you send takes one query quota"
// (https://learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests).
const (
	headerQuotaRemaining   = "x-ms-user-quota-remaining"
	headerQuotaResetsAfter = "x-ms-user-quota-resets-after"
)

// quotaWindow is the window the guidance gives as its example ("at most 15
// queries within every 5-second window"): the wait after a 429 that says
// nothing of when to come back.
const quotaWindow = 5 * time.Second

// retryAfter is how long a 429 answer asks to wait: Retry-After (seconds or an
// HTTP date), retry-after-ms or x-ms-retry-after-ms, else the quota's reset
// time, else one quota window.
// At most a day: the Client refuses a wait longer than its MaxWait anyway.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if d, ok := retry.ParseRetryAfter(h, now, 24*time.Hour); ok {
		return d
	}
	if d, ok := resetsAfter(h); ok {
		return d
	}
	return quotaWindow
}

// quotaWait is how long to wait before the next query after an answer: the
// quota's reset time when no quota remains, else nothing.
func quotaWait(h http.Header) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(headerQuotaRemaining)))
	if err != nil || n > 0 {
		return 0
	}
	if d, ok := resetsAfter(h); ok {
		return d
	}
	return quotaWindow
}

// resetsAfter parses x-ms-user-quota-resets-after (hh:mm:ss).
func resetsAfter(h http.Header) (time.Duration, bool) {
	parts := strings.Split(strings.TrimSpace(h.Get(headerQuotaResetsAfter)), ":")
	if len(parts) != 3 {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, err := strconv.ParseFloat(parts[i], 64)
		if err != nil || n < 0 {
			return 0, false
		}
		d += time.Duration(n * float64(unit))
	}
	return d, true
}
