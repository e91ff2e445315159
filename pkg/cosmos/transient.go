package cosmos

import (
	"context"
	"errors"
	"io"
	"net/http"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/exportguard/exportguard/internal/retry"
)

// Transient failures of one request are retried here, beyond what the SDK
// does. azcore's retry policy retries 429 (waiting x-ms-retry-after-ms) and,
// for reads, azcosmos retries 5xx once per region; but azcosmos marks writes
// that failed with 408, 500, 502, 503 or 504 not retriable, since it cannot know
// whether they landed. This store's writes are safe to send again: creates of
// an existing ID and deletes of an absent one are no-ops, upserts are
// idempotent, and a conditional replace that landed meets its own write ID
// (see change). So every request is tried up to transientAttempts times while
// it fails transiently, waiting transientDelay, doubling, in between.
const (
	transientAttempts = 4
	transientDelay    = 100 * time.Millisecond
)

// retryTransient runs op until it succeeds, fails for a reason that is not
// transient, or has been tried transientAttempts times.
func retryTransient(ctx context.Context, op func() error) error {
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || attempt == transientAttempts || !transient(err) || ctx.Err() != nil {
			return err
		}
		if werr := retry.Sleep(ctx, retry.Exponential(transientDelay, transientDelay<<(transientAttempts-2), attempt)); werr != nil {
			return errors.Join(err, werr)
		}
	}
}

// transient reports whether err may go away when the request is sent again:
// a timeout, an unavailable or failing server, or a connection dropped
// mid-request. A 429 is not among them: azcore has waited out the throttling
// as long as it was allowed to.
func transient(err error) bool {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusRequestTimeout, 449, // 449: retry with
			http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF)
}
