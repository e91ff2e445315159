package retry

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Azure's millisecond headers, read before Retry-After in the order azcore's
// retry policy reads them: "retry-after-ms", then "x-ms-retry-after-ms", then
// "Retry-After" (azcore's shared.RetryAfter; ARM's throttling guidance,
// https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling,
// and Cosmos DB's 429s send them).
var msHeaders = []string{"retry-after-ms", "x-ms-retry-after-ms"}

// ParseRetryAfter reads how long an answer asks to wait before the next
// request: retry-after-ms or x-ms-retry-after-ms (milliseconds, above 0),
// else Retry-After, as delay-seconds or an HTTP-date taken from now
// (RFC 9110 §10.2.3). ok is false when none is given or none is readable. The
// wait is never below 0 (a date in the past is 0) nor above limit.
func ParseRetryAfter(h http.Header, now time.Time, limit time.Duration) (d time.Duration, ok bool) {
	d, ok = parse(h, now)
	return min(max(d, 0), max(limit, 0)), ok
}

func parse(h http.Header, now time.Time) (time.Duration, bool) {
	for _, k := range msHeaders {
		if ms, err := strconv.ParseInt(strings.TrimSpace(h.Get(k)), 10, 64); err == nil && ms > 0 {
			return saturatingMul(ms, time.Millisecond), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		return saturatingMul(s, time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now), true
	}
	return 0, false
}

// saturatingMul is n units, at most the largest Duration.
func saturatingMul(n int64, unit time.Duration) time.Duration {
	if n > int64(time.Duration(1<<63-1)/unit) {
		return time.Duration(1<<63 - 1)
	}
	return time.Duration(n) * unit
}
