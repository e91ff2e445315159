package resourcemanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"

	"github.com/exportguard/exportguard/internal/retry"
	"github.com/exportguard/exportguard/pkg/guard"
)

// writeAPIVersions pins the api-version of types exportguard writes but never
// reads; the rest come from apiVersions, the reader's table. A write to a type
// in neither is refused: writes never use a discovered version.
var writeAPIVersions = map[string]string{
	// DELETE {nsg}/securityRules/{name}: a JIT allow rule that outlived its window.
	"microsoft.network/networksecuritygroups/securityrules": "2024-05-01",
	// PATCH {scope}/providers/Microsoft.Resources/tags/default (Tags - Update At
	// Scope, operation Merge): 200 with the tags, synchronous in this version.
	"microsoft.resources/tags": "2021-04-01",
}

// WriteAPIVersion returns the api-version exportguard writes a type with.
func WriteAPIVersion(resourceType string) (string, bool) {
	if v, ok := writeAPIVersions[strings.ToLower(resourceType)]; ok {
		return v, true
	}
	return APIVersion(resourceType)
}

// DefaultPollFrequency is how often a long-running operation is polled when ARM
// sends no Retry-After.
const DefaultPollFrequency = 10 * time.Second

// Writer makes the writes remediation needs (PATCH, PUT, DELETE by resource ID)
// through the client's ARM pipeline, which authenticates, and retries 408, 429
// (after Retry-After) and 5xx answers. A 201 or 202 is a long-running operation:
// it is polled to its end with runtime.NewPoller, which follows
// Azure-AsyncOperation, Operation-Location or Location (and, for PATCH and PUT,
// reads the resource at its own URL when the operation is over). The writer
// never registers resource providers, and refuses an ID guard.CheckResourceID
// refuses before it builds a URL (guard.ErrUnsupported: never retried).
type Writer struct {
	c *Client
	// PollFrequency is the polling interval without Retry-After;
	// DefaultPollFrequency when 0.
	PollFrequency time.Duration
}

// NewWriter returns a writer on the client's pipeline and cloud.
func NewWriter(c *Client) *Writer { return &Writer{c: c} }

// WriteError is ARM refusing or failing a write: the status it answered, its
// error code, and the Retry-After it sent.
type WriteError struct {
	Method, ID string
	Status     int
	Code       string
	After      time.Duration
	Err        error
}

func (e *WriteError) Error() string {
	s := fmt.Sprintf("arm: %s %s: %d", e.Method, e.ID, e.Status)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Err != nil {
		s += ": " + firstLine(e.Err.Error())
	}
	return s
}

func (e *WriteError) Unwrap() error { return e.Err }

// HTTPStatus is the status ARM answered.
func (e *WriteError) HTTPStatus() int { return e.Status }

// RetryAfter is the wait ARM asked for, or 0.
func (e *WriteError) RetryAfter() time.Duration { return e.After }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Patch sends body as a PATCH of the resource and returns the resource when the
// operation is over. A resource ARM does not know is guard.ErrNotFound.
func (w *Writer) Patch(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	return w.write(ctx, http.MethodPatch, id, body)
}

// Put sends body as a PUT of the resource.
func (w *Writer) Put(ctx context.Context, id string, body []byte) (*guard.Resource, error) {
	return w.write(ctx, http.MethodPut, id, body)
}

// Delete deletes the resource. A resource already gone (404) is not an error.
func (w *Writer) Delete(ctx context.Context, id string) error {
	_, err := w.write(ctx, http.MethodDelete, id, nil)
	return err
}

func (w *Writer) write(ctx context.Context, method, id string, body []byte) (*guard.Resource, error) {
	if err := checkID(method, id); err != nil {
		return nil, err
	}
	typ := guard.TypeOf(id)
	if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") || typ == "" {
		return nil, fmt.Errorf("arm: %s %q: not a resource ID under a subscription: %w", method, id, guard.ErrUnsupported)
	}
	ver, ok := WriteAPIVersion(typ)
	if !ok {
		return nil, fmt.Errorf("arm: %s %s: no api-version pinned for writing %s: %w", method, id, typ, guard.ErrUnsupported)
	}
	req, err := runtime.NewRequest(ctx, method, w.c.c.Endpoint()+escapePath(id))
	if err != nil {
		return nil, fmt.Errorf("arm: %s %s: %w", method, id, err)
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", ver)
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := req.SetBody(streaming.NopCloser(bytes.NewReader(body)), "application/json"); err != nil {
			return nil, fmt.Errorf("arm: %s %s: %w", method, id, err)
		}
	}
	pl := w.c.c.Pipeline()
	resp, err := pl.Do(req)
	if err != nil {
		return nil, fmt.Errorf("arm: %s %s: %w", method, id, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && method == http.MethodDelete:
		resp.Body.Close()
		return nil, nil // already gone
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("arm: %s %s: %w", method, id, guard.ErrNotFound)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, writeError(method, id, runtime.NewResponseError(resp))
	}
	poller, err := runtime.NewPoller[json.RawMessage](resp, pl, nil)
	if err != nil {
		return nil, writeError(method, id, err)
	}
	freq := w.PollFrequency
	if freq <= 0 {
		freq = DefaultPollFrequency
	}
	out, err := poller.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: freq})
	if err != nil {
		return nil, writeError(method, id, err)
	}
	if method == http.MethodDelete || len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	res, err := guard.NewResource(out, time.Now())
	if err != nil || guard.CheckResourceID(res.ID) != nil {
		return nil, nil // an answer that is no resource: the caller reads back
	}
	return res, nil
}

// writeError wraps what azcore reports (the request, or the long-running
// operation, failed) with the status, code and Retry-After.
func writeError(method, id string, err error) error {
	we := &WriteError{Method: method, ID: id, Err: err}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		we.Status, we.Code = re.StatusCode, re.ErrorCode
		if re.RawResponse != nil {
			we.After, _ = retry.ParseRetryAfter(re.RawResponse.Header, time.Now(), maxWriteRetryAfter)
		}
	}
	return we
}

// maxWriteRetryAfter bounds the wait a write's Retry-After asks for (the
// remediation's next attempt is not sooner): ARM's throttling limits are per
// hour at the longest, so a longer wait is an answer not to be trusted.
const maxWriteRetryAfter = time.Hour
