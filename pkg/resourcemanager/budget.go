package resourcemanager

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"

	"github.com/exportguard/exportguard/internal/retry"
	"github.com/exportguard/exportguard/pkg/guard"
)

// ARM throttles reads with a token bucket per security principal, per
// subscription, per region: a bucket of 250 reads that refills at 25 a second
// ("Understand how Azure Resource Manager throttles requests",
// https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling,
// "Regional throttling and token bucket algorithm"). A request beyond it is
// answered 429 with Retry-After. The guard's instances share one managed
// identity, so one instance keeps well under the bucket: a burst of ARM reads
// (thousands of changes in one Event Hubs batch, a sweep, a reconcile) waits
// for its turn rather than being throttled, and a change is never lost to a
// 429: it waits with its context, and when the context ends first the read
// fails, the delivery fails, and the Functions host delivers it again.
const (
	// ARMReadBucket and ARMReadRefillPerSecond are ARM's documented figures.
	ARMReadBucket          = 250
	ARMReadRefillPerSecond = 25
)

// ReadBudget paces ARM reads per subscription. The zero value is not usable;
// use NewReadBudget. It is safe for concurrent use, and is an azcore
// per-retry pipeline policy (every try of a read, retries of a 429 included,
// takes its turn).
type ReadBudget struct {
	opts BudgetOptions

	mu   sync.Mutex
	subs map[string]*subBudget

	reads, throttled atomic.Int64
}

// BudgetOptions sets a ReadBudget's pace. Zero fields take DefaultBudget's.
type BudgetOptions struct {
	// PerSecond is the steady rate of reads per subscription.
	PerSecond float64
	// Burst is how many reads may go at once after a quiet spell.
	Burst int
	// Concurrency is how many reads of one subscription are in flight at once.
	Concurrency int
	// MaxRetryAfter bounds how long a 429's Retry-After holds the
	// subscription's reads back.
	MaxRetryAfter time.Duration
}

// DefaultBudget is under ARM's documented bucket (250, refilled at 25/s) with
// room for the guard's other instances and the operators' own reads: 20 reads
// a second, bursts of 100, 4 in flight per subscription.
var DefaultBudget = BudgetOptions{PerSecond: 20, Burst: 100, Concurrency: 4, MaxRetryAfter: time.Minute}

type subBudget struct {
	lim   *rate.Limiter
	slots chan struct{}
	mu    sync.Mutex
	until time.Time // a 429's Retry-After: no read of the subscription before it
}

// NewReadBudget returns a budget with the given pace (DefaultBudget's for
// zero fields).
func NewReadBudget(o BudgetOptions) *ReadBudget {
	d := DefaultBudget
	if o.PerSecond <= 0 {
		o.PerSecond = d.PerSecond
	}
	if o.Burst <= 0 {
		o.Burst = d.Burst
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = d.MaxRetryAfter
	}
	return &ReadBudget{opts: o, subs: map[string]*subBudget{}}
}

// Reads is how many reads were sent; Throttled how many were answered 429.
func (b *ReadBudget) Reads() int64     { return b.reads.Load() }
func (b *ReadBudget) Throttled() int64 { return b.throttled.Load() }

func (b *ReadBudget) sub(id string) *subBudget {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.subs[id]
	if s == nil {
		s = &subBudget{lim: rate.NewLimiter(rate.Limit(b.opts.PerSecond), b.opts.Burst),
			slots: make(chan struct{}, b.opts.Concurrency)}
		b.subs[id] = s
	}
	return s
}

// Do implements policy.Policy: a read (GET, HEAD) waits for a slot of its
// subscription, for the end of a Retry-After its subscription was given, and
// for a token; then it is sent. A 429 holds the subscription's reads back for
// its Retry-After (at most MaxRetryAfter); azcore's retry policy, around this
// one, retries the read after it. Writes pass: ARM counts them apart.
func (b *ReadBudget) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	if raw.Method != http.MethodGet && raw.Method != http.MethodHead {
		return req.Next()
	}
	ctx := raw.Context()
	s := b.sub(guard.IDKey(guard.SubscriptionOf(raw.URL.Path)))
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("arm: waiting for a read slot: %w", context.Cause(ctx))
	}
	defer func() { <-s.slots }()
	if err := s.waitRetryAfter(ctx); err != nil {
		return nil, err
	}
	if err := s.lim.Wait(ctx); err != nil {
		return nil, fmt.Errorf("arm: waiting for the read budget: %w", err)
	}
	b.reads.Add(1)
	resp, err := req.Next()
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		b.throttled.Add(1)
		d, _ := retry.ParseRetryAfter(resp.Header, time.Now(), b.opts.MaxRetryAfter)
		s.holdBack(d)
	}
	return resp, err
}

func (s *subBudget) waitRetryAfter(ctx context.Context) error {
	s.mu.Lock()
	until := s.until
	s.mu.Unlock()
	d := time.Until(until)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("arm: waiting out a Retry-After: %w", context.Cause(ctx))
	}
}

func (s *subBudget) holdBack(d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	until := time.Now().Add(d)
	s.mu.Lock()
	if until.After(s.until) {
		s.until = until
	}
	s.mu.Unlock()
}
