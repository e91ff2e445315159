package retry

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// The union of what the parsers this package replaced were tested for (notify's
// sender, ARM's writes and read budget, Resource Graph's client), and the bound
// that ARM's write parser lacked.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		h      http.Header
		limit  time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"nothing said", http.Header{}, day, 0, false},
		{"Retry-After seconds", http.Header{"Retry-After": {"7"}}, day, 7 * time.Second, true},
		{"Retry-After seconds, spaces", http.Header{"Retry-After": {" 12 "}}, day, 12 * time.Second, true},
		{"Retry-After zero", http.Header{"Retry-After": {"0"}}, day, 0, true},
		{"Retry-After date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, day, 90 * time.Second, true},
		{"Retry-After date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, day, 0, true},
		{"Retry-After negative", http.Header{"Retry-After": {"-5"}}, day, 0, false},
		{"Retry-After fraction", http.Header{"Retry-After": {"1.5"}}, day, 0, false},
		{"Retry-After garbage", http.Header{"Retry-After": {"soon"}}, day, 0, false},
		{"retry-after-ms first", http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, day, 1500 * time.Millisecond, true},
		{"x-ms-retry-after-ms", http.Header{"X-Ms-Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, day, 250 * time.Millisecond, true},
		{"retry-after-ms before x-ms-retry-after-ms", http.Header{"Retry-After-Ms": {"100"}, "X-Ms-Retry-After-Ms": {"200"}}, day, 100 * time.Millisecond, true},
		{"ms zero falls back to Retry-After", http.Header{"X-Ms-Retry-After-Ms": {"0"}, "Retry-After": {"3"}}, day, 3 * time.Second, true},
		{"ms unreadable falls back to Retry-After", http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"3"}}, day, 3 * time.Second, true},
		// Every wait is bounded by the caller's limit (ARM's write parser was not).
		{"seconds past the limit", http.Header{"Retry-After": {"86400000"}}, time.Hour, time.Hour, true},
		{"date past the limit", http.Header{"Retry-After": {now.Add(48 * time.Hour).Format(http.TimeFormat)}}, day, day, true},
		{"ms past the limit", http.Header{"X-Ms-Retry-After-Ms": {"600000"}}, time.Minute, time.Minute, true},
		{"seconds that overflow a Duration", http.Header{"Retry-After": {"99999999999999999"}}, day, day, true},
		{"ms that overflow a Duration", http.Header{"Retry-After-Ms": {"9223372036854775807"}}, day, day, true},
		{"no limit is no wait", http.Header{"Retry-After": {"7"}}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseRetryAfter(tt.h, now, tt.limit)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter = %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestExponential(t *testing.T) {
	tests := []struct {
		name        string
		base, limit time.Duration
		n           int
		want        time.Duration
	}{
		{"first retry is base", 30 * time.Second, 30 * time.Minute, 1, 30 * time.Second},
		{"doubles", 30 * time.Second, 30 * time.Minute, 3, 2 * time.Minute},
		{"capped", 30 * time.Second, 30 * time.Minute, 7, 30 * time.Minute},
		{"a huge retry count stays capped", 30 * time.Second, 30 * time.Minute, 1 << 30, 30 * time.Minute},
		{"no overflow under the largest limit", time.Second, time.Duration(1<<63 - 1), 100, time.Duration(1<<63 - 1)},
		{"zero and negative retries are the first", 100 * time.Millisecond, time.Second, 0, 100 * time.Millisecond},
		{"no base", 0, time.Second, 3, 0},
		{"no limit", time.Second, 0, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Exponential(tt.base, tt.limit, tt.n); got != tt.want {
				t.Errorf("Exponential(%s, %s, %d) = %s, want %s", tt.base, tt.limit, tt.n, got, tt.want)
			}
		})
	}
}

// Jittered stays below the exponential ceiling and is not the same every time.
func TestJittered(t *testing.T) {
	ceiling := Exponential(4*time.Millisecond, 250*time.Millisecond, 3)
	seen := map[time.Duration]bool{}
	for range 200 {
		d := Jittered(4*time.Millisecond, 250*time.Millisecond, 3)
		if d < 0 || d >= ceiling {
			t.Fatalf("Jittered = %s, want in [0, %s)", d, ceiling)
		}
		seen[d] = true
	}
	if len(seen) < 2 {
		t.Fatalf("Jittered gave one value 200 times: %v", seen)
	}
	if d := Jittered(0, time.Second, 1); d != 0 {
		t.Fatalf("Jittered with no base = %s", d)
	}
}

func TestSleepEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
}
