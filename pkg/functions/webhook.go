package functions

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The eventgrid function (functions/eventgrid/function.json): an httpTrigger with
// route eventgrid, methods post and options, authLevel function, and an http
// output "res". It is the endpoint for an Event Grid subscription that pushes
// straight to the app as a plain webhook
// (https://APP.azurewebsites.net/api/eventgrid?code=FUNCTION-KEY), rather than
// through the host's own Event Grid endpoint that the resourceevents function
// (an eventGridTrigger) is reached by. The host answers the subscription
// handshakes itself only for an eventGridTrigger; for this httpTrigger the
// function answers them (research note §8):
//
//	POST, aeg-event-type: SubscriptionValidation   Event Grid schema handshake: the body is an array
//	                                               holding Microsoft.EventGrid.SubscriptionValidationEvent
//	                                               (or a single CloudEvent whose data may be encoded
//	                                               once more); answered 200 {"validationResponse": code}
//	OPTIONS, WebHook-Request-Origin: ORIGIN        CloudEvents 1.0 abuse protection: answered 200 with
//	                                               WebHook-Allowed-Origin: ORIGIN, WebHook-Allowed-Rate: *
//	                                               and Allow: POST, for the origins Event Grid uses in
//	                                               the clouds exportguard runs in (eventGridOrigins);
//	                                               any other origin gets 403 and no WebHook-Allowed-Origin
//	POST, aeg-event-type: Notification (or none)   a delivery: one event or an array, Event Grid schema
//	                                               (application/json) or CloudEvents
//	                                               (application/cloudevents+json, or a batch as
//	                                               application/cloudevents-batch+json), handed whole to
//	                                               the pipeline as an Event Grid delivery, as the
//	                                               resourceevents function does; 200 when the pipeline
//	                                               took it (events it cannot read are kept as poison),
//	                                               500 when the store failed, so that Event Grid
//	                                               delivers it again
//	POST, aeg-event-type: Unsubscribe              202, nothing done
//
// The invocation itself succeeds (200) whatever the caller is answered, so that
// its Logs reach the invocation log: the caller's status travels in
// Outputs.res, whose body is always a JSON object (never a string, which the
// host would try to base64-decode, research note §4).

const (
	fnEventGrid = "eventgrid"

	headerEventType     = "aeg-event-type"
	headerRequestOrigin = "WebHook-Request-Origin"

	eventTypeValidation   = "SubscriptionValidation"
	eventTypeNotification = "Notification"
	eventTypeUnsubscribe  = "Unsubscribe"

	validationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent"

	// maxValidationCode bounds the code echoed back (Event Grid's are GUIDs).
	maxValidationCode = 512
)

// eventGridOrigins are the WebHook-Request-Origin values Event Grid sends in
// the clouds exportguard supports: the public cloud and Azure Government. They
// are the first two of the list the Functions Event Grid extension allows
// (Azure/azure-sdk-for-net, Microsoft.Azure.WebJobs.Extensions.EventGrid
// HttpRequestProcessor.GetAllowedOriginResponseHeader; its others are
// eventgrid.azure.cn and the air-gapped clouds). Any other sender is refused:
// consenting to it would let anyone point an Event Grid look-alike at the app.
var eventGridOrigins = []string{"eventgrid.azure.net", "eventgrid.azure.us"}

// httpAnswer is Outputs.res of an httpTrigger invocation (research note §3.1).
type httpAnswer struct {
	status  int
	headers map[string]string
	body    any
}

func (a httpAnswer) result(logLine string) result {
	headers := map[string]string{"Content-Type": "application/json"}
	for k, v := range a.headers {
		headers[k] = v
	}
	return result{
		outputs: map[string]any{bindRes: map[string]any{
			"statusCode": a.status,
			"headers":    headers,
			"body":       a.body,
		}},
		logs: []string{logLine},
	}
}

func webhookError(status int, msg string, headers map[string]string) httpAnswer {
	return httpAnswer{status: status, headers: headers, body: map[string]string{"error": msg}}
}

// eventGrid runs the eventgrid function.
func (h *handler) eventGrid(ctx context.Context, inv invocation, log *slog.Logger) (result, error) {
	raw, ok := inv.data(bindReq)
	if !ok {
		return result{}, &requestError{http.StatusBadRequest, "the invocation has no Data.req"}
	}
	var req httpRequest
	if err := json.Unmarshal(unquote(raw, maxUnwrap), &req); err != nil {
		return result{}, &requestError{http.StatusBadRequest, "Data.req is not an HTTP request object"}
	}
	ans, what := h.serveWebhook(ctx, &req, log)
	log.Info("invocation done", slog.String("request", what), slog.Int("status", ans.status))
	return ans.result(fmt.Sprintf("%s: %s: %d %s", fnEventGrid, what, ans.status, http.StatusText(ans.status))), nil
}

// serveWebhook answers one request, and says in a few words what it was.
func (h *handler) serveWebhook(ctx context.Context, req *httpRequest, log *slog.Logger) (httpAnswer, string) {
	allow := map[string]string{"Allow": "POST, OPTIONS"}
	switch strings.ToUpper(strings.TrimSpace(req.Method)) {
	case http.MethodOptions:
		return abuseProtection(req, log), "CloudEvents validation"
	case http.MethodPost:
	default:
		return webhookError(http.StatusMethodNotAllowed, "use POST for deliveries and OPTIONS for the CloudEvents handshake", allow), "method " + clip(req.Method, 16)
	}

	body, ok := requestBody(req.Body)
	kind := strings.TrimSpace(req.header(headerEventType))
	switch {
	case strings.EqualFold(kind, eventTypeValidation):
		if !ok {
			return webhookError(http.StatusBadRequest, "a subscription validation request needs the validation event as its body", nil), "subscription validation"
		}
		code, found := validationCode(body)
		if !found {
			log.Warn("eventgrid: subscription validation without a usable validationCode")
			return webhookError(http.StatusBadRequest, "no SubscriptionValidationEvent with a validationCode in the body", nil), "subscription validation"
		}
		// 200, never 202: Event Grid does not take 202 as a validation answer (§8.1).
		return httpAnswer{status: http.StatusOK, body: map[string]string{"validationResponse": code}}, "subscription validation"
	case strings.EqualFold(kind, eventTypeUnsubscribe):
		log.Info("eventgrid: the subscription says it is being deleted")
		return httpAnswer{status: http.StatusAccepted, body: map[string]string{"status": "noted"}}, "unsubscribe"
	case kind != "" && !strings.EqualFold(kind, eventTypeNotification):
		return webhookError(http.StatusBadRequest, "aeg-event-type must be SubscriptionValidation, Notification or Unsubscribe", nil), "event type " + clip(kind, 32)
	}

	// A delivery. Event Grid sends aeg-event-type: Notification; a sender
	// without the header (a CloudEvents webhook client) is served the same.
	if !ok {
		return webhookError(http.StatusBadRequest, "a delivery needs a JSON event, or an array of events, as its body", nil), "delivery"
	}
	sum, err := h.ing.Ingest(ctx, guard.SourceEventGrid, body, h.now())
	if err != nil {
		log.Error("ingest failed", slog.String("error", err.Error()))
		// Fixed words for the caller; the reason went to the log. Event Grid
		// retries a 500 on its schedule.
		return webhookError(http.StatusInternalServerError, "the delivery could not be stored; deliver it again", nil), "delivery"
	}
	log.Info("eventgrid: delivery taken", slog.String("contentType", clip(req.header("Content-Type"), 64)), slog.Any("summary", sum))
	return httpAnswer{status: http.StatusOK, body: map[string]any{
		"status": "accepted", "changes": sum.Changes, "duplicates": sum.Duplicates,
		"ignored": sum.Ignored, "rejected": sum.Rejected,
	}}, "delivery (" + summaryLine(sum) + ")"
}

// abuseProtection answers the CloudEvents 1.0 validation request (OPTIONS,
// research note §8.2). Consent is the WebHook-Allowed-Origin header; the status
// code carries no meaning for the sender, so a refusal is a 4xx without it.
func abuseProtection(req *httpRequest, log *slog.Logger) httpAnswer {
	origin := strings.TrimSpace(req.header(headerRequestOrigin))
	if origin == "" {
		return webhookError(http.StatusBadRequest, "not a CloudEvents validation request: WebHook-Request-Origin is missing",
			map[string]string{"Allow": "POST, OPTIONS"})
	}
	allowed := false
	for _, o := range eventGridOrigins {
		if strings.EqualFold(origin, o) {
			allowed = true
			break
		}
	}
	if !allowed {
		log.Warn("eventgrid: CloudEvents validation from an origin that is not Event Grid refused", slog.String("origin", clip(origin, 128)))
		return webhookError(http.StatusForbidden, "this endpoint takes deliveries from Azure Event Grid only ("+strings.Join(eventGridOrigins, ", ")+")", nil)
	}
	return httpAnswer{
		status: http.StatusOK,
		headers: map[string]string{
			"WebHook-Allowed-Origin": origin,
			// Any rate: Event Grid paces itself, and the pipeline keeps what it
			// cannot take in time for a retry (a 500 answer).
			"WebHook-Allowed-Rate": "*",
			"Allow":                "POST",
		},
		body: map[string]string{"status": "allowed", "origin": origin},
	}
}

// requestBody returns the request's body as JSON text: the host sends a JSON
// body as a string holding it (§3.1), and an octet-stream one as base64; a
// value sent as JSON itself is taken as it is. ok is false when there is no
// body, or it is not a JSON object or array.
func requestBody(raw json.RawMessage) ([]byte, bool) {
	t := bytes.TrimSpace(unquote(raw, maxUnwrap))
	if isJSONContainer(t) {
		return t, true
	}
	if len(t) > 0 {
		if dec, err := base64.StdEncoding.DecodeString(string(t)); err == nil {
			if d := bytes.TrimSpace(dec); isJSONContainer(d) {
				return d, true
			}
		}
	}
	return nil, false
}

func isJSONContainer(b []byte) bool {
	return len(b) > 0 && (b[0] == '{' || b[0] == '[') && json.Valid(b)
}

// validationCode finds the validation code of a subscription validation
// request: data.validationCode of the SubscriptionValidationEvent in an Event
// Grid array, or of a single event (a CloudEvent), whose data may be a string
// holding the JSON (the Functions Event Grid extension says the CloudEvent
// form is encoded twice). An event typed as the validation event is preferred;
// otherwise the first event with a code is taken, since the header already
// said what the request is.
func validationCode(body []byte) (string, bool) {
	var events []json.RawMessage
	if body[0] == '[' {
		if json.Unmarshal(body, &events) != nil {
			return "", false
		}
	} else {
		events = []json.RawMessage{body}
	}
	fallback := ""
	for _, raw := range events {
		var ev struct {
			EventType string          `json:"eventType"`
			Type      string          `json:"type"`
			Data      json.RawMessage `json:"data"`
		}
		if json.Unmarshal(raw, &ev) != nil {
			continue
		}
		var data struct {
			ValidationCode string `json:"validationCode"`
		}
		if json.Unmarshal(unquote(ev.Data, maxUnwrap), &data) != nil {
			continue
		}
		code := strings.TrimSpace(data.ValidationCode)
		if code == "" || len(code) > maxValidationCode {
			continue
		}
		if strings.EqualFold(ev.EventType, validationEventType) || strings.EqualFold(ev.Type, validationEventType) {
			return code, true
		}
		if fallback == "" {
			fallback = code
		}
	}
	return fallback, fallback != ""
}
