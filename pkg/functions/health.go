package functions

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// healthBody is the JSON a health check answers with.
type healthBody struct {
	Status string `json:"status"`           // ok or unavailable
	Reason string `json:"reason,omitempty"` // why unavailable, in fixed words
	Time   string `json:"time"`             // when the check ran, RFC 3339
}

// check runs the readiness check with a short deadline. The error's text goes to
// the log only: it may name the store.
func (h *handler) check(ctx context.Context, log *slog.Logger) (int, healthBody) {
	body := healthBody{Status: "ok", Time: h.now().UTC().Format(time.RFC3339)}
	if h.ready == nil {
		return http.StatusOK, body
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	err := h.ready(ctx)
	if err == nil {
		return http.StatusOK, body
	}
	body.Status, body.Reason = "unavailable", "readiness check failed"
	if errors.Is(err, context.DeadlineExceeded) {
		body.Reason = "readiness check timed out"
	}
	log.Warn("not ready", slog.String("error", err.Error()))
	return http.StatusServiceUnavailable, body
}

// healthDirect answers GET /health from a person or a probe talking to the handler
// itself: 200 or 503 with the health JSON.
func (h *handler) healthDirect(w http.ResponseWriter, r *http.Request) {
	status, body := h.check(r.Context(), h.log.With(slog.String("function", fnHealth)))
	writeJSON(w, status, body)
}

// healthInvocation answers the health function's httpTrigger invocation (§3.1).
// The invocation itself succeeds (200): the status for the caller travels in
// Outputs.res, with the body as a JSON object rather than a string, which the
// host would try to base64-decode (§4).
func (h *handler) healthInvocation(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	if _, ok := inv.data(bindReq); !ok {
		return result{}, &requestError{http.StatusBadRequest, "the invocation has no Data.req"}
	}
	status, body := h.check(ctx, log)
	log.Info("invocation done", slog.String("status", body.Status))
	return result{
		outputs: map[string]any{bindRes: map[string]any{
			"statusCode": status,
			"headers":    map[string]string{"Content-Type": "application/json"},
			"body":       body,
		}},
		logs:  []string{fnHealth + ": " + body.Status},
		quiet: true,
	}, nil
}
