package cosmos

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/exportguard/exportguard/pkg/guard"
)

// faults is a transport in front of the local server that answers the next
// requests matching it with a canned error instead (after passing them on, when
// landed is set: the server acts, the client hears an error).
type faults struct {
	match  func(*http.Request) bool
	left   atomic.Int32 // how many more requests to fail
	hits   atomic.Int32 // how many were failed
	status int
	header http.Header
	body   string // "" for an error of Cosmos DB's shape
	landed bool
}

func (f *faults) Do(req *http.Request) (*http.Response, error) {
	next := gatewayRules{next: http.DefaultClient}
	if !f.match(req) || f.left.Add(-1) < 0 {
		return next.Do(req)
	}
	f.hits.Add(1)
	if f.landed {
		resp, err := next.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
	}
	body := f.body
	if body == "" {
		body = `{"code":"Injected","message":"injected by the test"}`
	}
	return response(req, f.status, f.header.Clone(), body), nil
}

// openFaulty opens a second store, whose requests pass through f, on the
// database of a store opened normally (so that Open itself meets no fault).
func openFaulty(t *testing.T, f *faults) (plain, faulty *Store) {
	t.Helper()
	o := testOptions(t, newDatabaseName())
	plain = openWith(t, o)
	o.EnsureContainers = false
	o.ClientOptions = clientOptions(f)
	o.ClientOptions.Retry.RetryDelay = 10 * time.Millisecond
	return plain, openWith(t, o)
}

func docsOf(container, method string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == method && strings.Contains(r.URL.Path, "/colls/"+container+"/docs")
	}
}

// TestThrottlingIsRetried: 429s with x-ms-retry-after-ms are waited out as the
// server asks (azcore's retry policy), and the write lands once.
func TestThrottlingIsRetried(t *testing.T) {
	f := &faults{match: docsOf(cPartitions, http.MethodPost), status: http.StatusTooManyRequests,
		header: http.Header{"X-Ms-Retry-After-Ms": {"60"}}}
	plain, s := openFaulty(t, f)
	f.left.Store(3)
	start := time.Now()
	if err := s.MarkProcessed(t.Context(), testPartition, "event:eventgrid:e-1", time.Now()); err != nil {
		t.Fatalf("MarkProcessed through three 429s: %v", err)
	}
	elapsed := time.Since(start)
	if got := f.hits.Load(); got != 3 {
		t.Errorf("429s answered: %d, want 3", got)
	}
	if elapsed < 3*60*time.Millisecond {
		t.Errorf("MarkProcessed took %v, want at least 3 × 60 ms (the server's x-ms-retry-after-ms)", elapsed)
	}
	if ok, err := plain.Processed(t.Context(), testPartition, "event:eventgrid:e-1"); !ok || err != nil {
		t.Errorf("Processed: got %v, %v, want true, nil", ok, err)
	}
}

// TestThrottlingIsBounded: a server asking to wait longer than MaxRetryDelay
// gets the 429 back at once, and one that keeps throttling gets it after
// MaxRetries.
func TestThrottlingIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter string
		wantHits   int32
	}{
		{"retry after a minute", "60000", 1},
		{"throttled for ever", "5", 1 + defaultMaxRetries},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faults{match: docsOf(cPartitions, http.MethodGet), status: http.StatusTooManyRequests,
				header: http.Header{"X-Ms-Retry-After-Ms": {tc.retryAfter}}}
			_, s := openFaulty(t, f)
			f.left.Store(1000)
			_, err := s.Processed(t.Context(), testPartition, "k")
			if !isStatus(err, http.StatusTooManyRequests) {
				t.Errorf("Processed: got %v, want a 429 error", err)
			}
			if got := f.hits.Load(); got != tc.wantHits {
				t.Errorf("tries: %d, want %d", got, tc.wantHits)
			}
		})
	}
}

// TestTransientErrorsAreRetried: 503s (and the like) on reads and writes are
// retried with backoff (writes by the store: azcosmos does not retry them).
func TestTransientErrorsAreRetried(t *testing.T) {
	f := &faults{match: func(r *http.Request) bool { return strings.Contains(r.URL.Path, "/colls/"+cGrants+"/docs") },
		status: http.StatusServiceUnavailable}
	_, s := openFaulty(t, f)
	f.left.Store(2)
	g := guard.Grant{ID: "g-1", Kind: "jit", ResourceID: "/subscriptions/s/x", End: time.Now()}
	if err := s.PutGrant(t.Context(), g); err != nil {
		t.Fatalf("PutGrant through two 503s: %v", err)
	}
	f.left.Store(2)
	gs, err := s.DueGrants(t.Context(), time.Now())
	if err != nil || len(gs) != 1 {
		t.Fatalf("DueGrants through two 503s: got %d grants, %v, want 1", len(gs), err)
	}
	if got := f.hits.Load(); got != 4 {
		t.Errorf("503s answered: %d, want 4", got)
	}
}

// TestLostAnswerIsNotAppliedTwice: a transactional batch that lands but whose
// answer is lost (here a 503) is sent again by the store and meets itself
// (412 on the head's replace, 409 on its create). The store reads the head,
// finds its own write ID there, and takes the commit as done: fn runs once,
// the record is appended once.
func TestLostAnswerIsNotAppliedTwice(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup bool // the finding exists first: the head is replaced, not created
	}{
		{"head created", false},
		{"head replaced", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &faults{match: isBatch, status: http.StatusServiceUnavailable, landed: true}
			plain, s := openFaulty(t, f)
			if tc.setup {
				mustUpdate(t, plain, "f-1", func(*guard.Finding) (*guard.Finding, error) { return counter(0), nil })
			}
			f.left.Store(1)
			calls := 0
			err := s.Batch(t.Context(), func(ctx context.Context) error {
				calls++
				if _, err := s.UpdateFinding(ctx, testPartition, "f-1", func(cur *guard.Finding) (*guard.Finding, error) {
					if cur == nil {
						return counter(1), nil
					}
					return increment(cur)
				}); err != nil {
					return err
				}
				_, err := s.AppendAudit(ctx, guard.AuditRecord{Partition: testPartition, At: time.Now(), Kind: "test"})
				return err
			})
			if err != nil {
				t.Fatalf("Batch: %v", err)
			}
			stored, err := plain.GetFinding(t.Context(), "f-1")
			if err != nil {
				t.Fatal(err)
			}
			recs, err := plain.ListAudit(t.Context(), testPartition, 0, 10)
			if calls != 1 || stored.Evidence["count"] != 1.0 || len(recs) != 1 || f.hits.Load() != 1 {
				t.Errorf("fn ran %d times, stored count %v, %d records (%v), faults %d; want 1, 1, 1, 1",
					calls, stored.Evidence["count"], len(recs), err, f.hits.Load())
			}
		})
	}
}

// isBatch matches transactional batch requests.
func isBatch(r *http.Request) bool {
	return docsOf(cPartitions, http.MethodPost)(r) && r.Header.Get("x-ms-cosmos-is-batch-request") != ""
}

func counter(n int) *guard.Finding {
	return &guard.Finding{ResourceID: testResource, Evidence: map[string]any{"count": n}}
}

func mustUpdate(t *testing.T, s *Store, id string, fn func(*guard.Finding) (*guard.Finding, error)) *guard.Finding {
	t.Helper()
	f, err := s.UpdateFinding(t.Context(), testPartition, id, fn)
	if err != nil {
		t.Fatalf("UpdateFinding %s: %v", id, err)
	}
	return f
}

// TestUpdateGivesUpWithConflict: a partition whose head changes under every
// attempt (412 on every batch) ends in guard.ErrConflict after
// Options.UpdateAttempts runs of fn.
func TestUpdateGivesUpWithConflict(t *testing.T) {
	f := &faults{match: isBatch, status: http.StatusMultiStatus, body: `[{"statusCode":412},{"statusCode":424}]`}
	plain, s := openFaulty(t, f)
	s.attempts = 3
	mustUpdate(t, plain, "f-1", func(*guard.Finding) (*guard.Finding, error) { return counter(0), nil })
	f.left.Store(1000)
	calls := 0
	_, err := s.UpdateFinding(t.Context(), testPartition, "f-1", func(cur *guard.Finding) (*guard.Finding, error) {
		calls++
		return increment(cur)
	})
	if !errors.Is(err, guard.ErrConflict) || calls != 3 {
		t.Errorf("UpdateFinding: got %v after %d calls of fn, want guard.ErrConflict after 3", err, calls)
	}
}

func TestRetryDefaults(t *testing.T) {
	got := withRetryDefaults(clientOptions(nil)).Retry
	want := policy.RetryOptions{MaxRetries: 5, RetryDelay: 250 * time.Millisecond,
		MaxRetryDelay: 10 * time.Second, TryTimeout: 15 * time.Second}
	if got.MaxRetries != want.MaxRetries || got.RetryDelay != want.RetryDelay ||
		got.MaxRetryDelay != want.MaxRetryDelay || got.TryTimeout != want.TryTimeout {
		t.Errorf("retry defaults: got %+v, want %+v", got, want)
	}
	if got.ShouldRetry == nil {
		t.Fatal("retry defaults: no ShouldRetry")
	}
	for _, tc := range []struct {
		err    error
		status int
		want   bool
	}{
		{status: http.StatusTooManyRequests, want: true},
		{status: http.StatusServiceUnavailable, want: true},
		{status: http.StatusPreconditionFailed, want: false},
		{status: http.StatusNotFound, want: false},
		{err: syscall.ECONNREFUSED, want: true},
		{err: fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), want: false},
		{err: &tls.CertificateVerificationError{Err: x509.HostnameError{}}, want: false},
	} {
		var resp *http.Response
		if tc.err == nil {
			resp = &http.Response{StatusCode: tc.status}
		}
		if got := got.ShouldRetry(resp, tc.err); got != tc.want {
			t.Errorf("ShouldRetry(%d, %v): got %v, want %v", tc.status, tc.err, got, tc.want)
		}
	}
	custom := clientOptions(nil)
	custom.Retry.MaxRetries = -1
	if got := withRetryDefaults(custom).Retry.MaxRetries; got != -1 {
		t.Errorf("MaxRetries set by the caller: got %d, want -1 kept", got)
	}
}
