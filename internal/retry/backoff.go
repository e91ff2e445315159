package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exponential is the wait before retry n (1 for the first): base, doubled for
// each retry after the first, at most limit. 0 when base or limit is not
// above 0.
func Exponential(base, limit time.Duration, n int) time.Duration {
	if base <= 0 || limit <= 0 {
		return 0
	}
	d := base
	for i := 1; i < n && d < limit; i++ { // at most 63 doublings before d reaches limit
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// Jittered is a random wait in [0, Exponential(base, limit, n)) ("full
// jitter"), so that clients that failed together do not retry together.
func Jittered(base, limit time.Duration, n int) time.Duration {
	ceiling := Exponential(base, limit, n)
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling)
}

// Sleep waits d, or until ctx is done, whichever is first; it returns
// ctx.Err() in the second case.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
