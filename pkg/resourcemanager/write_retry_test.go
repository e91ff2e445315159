package resourcemanager

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// A failed write carries the wait ARM asked for, bounded: an answer asking for
// days does not hold the remediation back for days.
func TestWriteErrorRetryAfterIsBounded(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{"seconds", http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{"none", http.Header{}, 0},
		{"milliseconds", http.Header{"X-Ms-Retry-After-Ms": {"1500"}}, 1500 * time.Millisecond},
		{"a year in seconds", http.Header{"Retry-After": {"31536000"}}, maxWriteRetryAfter},
		{"a date days away", http.Header{"Retry-After": {time.Now().Add(72 * time.Hour).UTC().Format(http.TimeFormat)}}, maxWriteRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			re := &azcore.ResponseError{StatusCode: http.StatusTooManyRequests, ErrorCode: "TooManyRequests",
				RawResponse: &http.Response{StatusCode: http.StatusTooManyRequests, Header: tt.h}}
			var we *WriteError
			if !errors.As(writeError(http.MethodPatch, "/subscriptions/s", re), &we) {
				t.Fatal("writeError did not return a *WriteError")
			}
			if we.RetryAfter() != tt.want {
				t.Fatalf("RetryAfter() = %s, want %s", we.RetryAfter(), tt.want)
			}
		})
	}
}
