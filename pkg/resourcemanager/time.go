package resourcemanager

import (
	"net/http"
	"time"
)

// responseTime is when ARM answered (its Date header), or now.
func responseTime(resp *http.Response) time.Time {
	if t, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		return t.UTC()
	}
	return time.Now().UTC()
}
