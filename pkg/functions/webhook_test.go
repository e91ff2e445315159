package functions

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The eventgrid function: an Event Grid subscription pushing straight to the
// app (research note §8), as the host hands each request to the handler
// (§3.1: an httpTrigger invocation, whatever the caller's method).

func TestEventGridFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnEventGrid)
	want := []binding{
		{Type: "httpTrigger", Name: bindReq, Direction: "in", AuthLevel: "function", Methods: []string{"post", "options"}, Route: "eventgrid"},
		{Type: "http", Name: bindRes, Direction: "out"},
	}
	if diff := cmp.Diff(want, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

// webhookInvocation is the envelope the host POSTs to /eventgrid for a request
// to https://APP/api/eventgrid?code=KEY: headers name → values, Body the
// request body as a string and only when there is one.
func webhookInvocation(method string, headers map[string]string, body string) []byte {
	hs := map[string][]string{"Host": {"func-exportguard.azurewebsites.net"}}
	for k, v := range headers {
		hs[k] = []string{v}
	}
	req := map[string]any{
		"Url":     "https://func-exportguard.azurewebsites.net/api/eventgrid?code=FUNCTIONKEY",
		"Method":  method,
		"Query":   map[string]string{"code": "FUNCTIONKEY"},
		"Headers": hs,
	}
	if body != "" {
		req["Body"] = body
	}
	b, err := json.Marshal(map[string]any{"Data": map[string]any{"req": req},
		"Metadata": map[string]any{"sys": map[string]string{"MethodName": "eventgrid", "UtcNow": "2026-11-20T14:07:30.5512907Z"}}})
	if err != nil {
		panic(err)
	}
	return b
}

type webhookAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
	logs       []string
}

// callWebhook runs one invocation: the invocation itself always succeeds, and
// the caller's answer is Outputs.res with a JSON object body.
func callWebhook(t *testing.T, h http.Handler, env []byte) webhookAnswer {
	t.Helper()
	a := checkAnswer(t, do(h, hostRequest(http.MethodPost, "/"+fnEventGrid, env)))
	var res webhookAnswer
	if err := json.Unmarshal(a.Outputs[bindRes], &res); err != nil {
		t.Fatalf("Outputs.res = %s: %v", a.Outputs[bindRes], err)
	}
	if len(res.Body) == 0 || res.Body[0] != '{' {
		t.Errorf("res body %s is not a JSON object", res.Body)
	}
	if res.Headers["Content-Type"] != "application/json" {
		t.Errorf("res Content-Type %q, want application/json", res.Headers["Content-Type"])
	}
	res.logs = a.Logs
	return res
}

func eventGridFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "eventgrid", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEventGridSubscriptionValidation(t *testing.T) {
	const code = "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
	// A CloudEvent validation request: a single object whose data is the JSON
	// encoded once more (the Functions Event Grid extension's comment).
	ceValidation := `{"specversion":"1.0","type":"Microsoft.EventGrid.SubscriptionValidationEvent","source":"/subscriptions/x",` +
		`"id":"1","time":"2026-11-20T14:07:30Z","data":` + jsonString(`{"validationCode":"`+code+`"}`) + `}`
	// The validation event after another one.
	mixed := `[{"id":"a","eventType":"Microsoft.Resources.ResourceWriteSuccess","data":{}},` +
		strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(eventGridFixture(t, "eg_subscription_validation.json")), "["))

	tests := []struct {
		name string
		body string
	}{
		{"Event Grid schema array (the documented request)", eventGridFixture(t, "eg_subscription_validation.json")},
		{"a CloudEvent with its data encoded twice", ceValidation},
		{"the validation event not first", mixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{}
			h, _ := newTestHandler(t, ing, nil)
			res := callWebhook(t, h, webhookInvocation("POST", map[string]string{
				"aeg-event-type": "SubscriptionValidation", "Content-Type": "application/json; charset=utf-8"}, tt.body))
			// 200, never 202, which Event Grid does not take as an answer.
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", res.StatusCode)
			}
			var got map[string]string
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"validationResponse": code}, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if len(ing.ingested) != 0 {
				t.Errorf("a validation request reached the pipeline: %q", ing.bodies())
			}
		})
	}

	t.Run("header name in another case", func(t *testing.T) {
		h, _ := newTestHandler(t, &fakeIngester{}, nil)
		res := callWebhook(t, h, webhookInvocation("POST", map[string]string{"Aeg-Event-Type": "subscriptionvalidation"},
			eventGridFixture(t, "eg_subscription_validation.json")))
		if res.StatusCode != http.StatusOK || !strings.Contains(string(res.Body), code) {
			t.Errorf("= %d %s, want 200 with the code", res.StatusCode, res.Body)
		}
	})

	for name, body := range map[string]string{
		"no code":    `[{"id":"1","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{}}]`,
		"no body":    "",
		"not JSON":   "validate me",
		"code a num": `[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":42}}]`,
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			ing := &fakeIngester{}
			h, _ := newTestHandler(t, ing, nil)
			res := callWebhook(t, h, webhookInvocation("POST", map[string]string{"aeg-event-type": "SubscriptionValidation"}, body))
			if res.StatusCode != http.StatusBadRequest || strings.Contains(string(res.Body), "validationResponse") {
				t.Errorf("= %d %s, want 400 without a validationResponse", res.StatusCode, res.Body)
			}
			if len(ing.ingested) != 0 {
				t.Errorf("reached the pipeline: %q", ing.bodies())
			}
		})
	}
}

func TestEventGridAbuseProtection(t *testing.T) {
	for _, origin := range []string{"eventgrid.azure.net", "eventgrid.azure.us", "EventGrid.Azure.NET"} {
		t.Run(origin, func(t *testing.T) {
			ing := &fakeIngester{}
			h, _ := newTestHandler(t, ing, nil)
			res := callWebhook(t, h, webhookInvocation("OPTIONS", map[string]string{
				"WebHook-Request-Origin": origin, "WebHook-Request-Rate": "120"}, ""))
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", res.StatusCode)
			}
			want := map[string]string{"Content-Type": "application/json", "WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*", "Allow": "POST"}
			if diff := cmp.Diff(want, res.Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if len(ing.ingested) != 0 {
				t.Errorf("a handshake reached the pipeline")
			}
		})
	}
	t.Run("header names in another case", func(t *testing.T) {
		h, _ := newTestHandler(t, &fakeIngester{}, nil)
		res := callWebhook(t, h, webhookInvocation("options", map[string]string{"webhook-request-origin": "eventgrid.azure.net"}, ""))
		if res.StatusCode != http.StatusOK || res.Headers["WebHook-Allowed-Origin"] != "eventgrid.azure.net" {
			t.Errorf("= %d %v", res.StatusCode, res.Headers)
		}
	})
	// No consent to anyone else: no WebHook-Allowed-Origin, which is what the
	// sender reads (the status carries no meaning for it).
	for name, headers := range map[string]map[string]string{
		"another origin":            {"WebHook-Request-Origin": "hooks.example.com"},
		"a look-alike":              {"WebHook-Request-Origin": "eventgrid.azure.net.example.com"},
		"no WebHook-Request-Origin": {"Origin": "eventgrid.azure.net"},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			h, _ := newTestHandler(t, &fakeIngester{}, nil)
			res := callWebhook(t, h, webhookInvocation("OPTIONS", headers, ""))
			if _, ok := res.Headers["WebHook-Allowed-Origin"]; ok || res.StatusCode < 400 {
				t.Errorf("= %d %v, want a 4xx without WebHook-Allowed-Origin", res.StatusCode, res.Headers)
			}
		})
	}
}

func TestEventGridDeliveries(t *testing.T) {
	egSingle := eventGridFixture(t, "eg_resource_write_success.json")
	egArray := eventGridFixture(t, "eg_array_mixed.json")
	ce := eventGridFixture(t, "ce_resource_write_success.json")
	ceBatch := "[" + ce + "," + eventGridFixture(t, "ce_resource_delete_success_specVersion.json") + "]"

	tests := []struct {
		name, contentType, eventType, body string
	}{
		{"Event Grid schema, one event in an array", "application/json; charset=utf-8", "Notification", egArray},
		{"Event Grid schema, a single object", "application/json", "Notification", egSingle},
		{"a CloudEvent", "application/cloudevents+json; charset=utf-8", "Notification", ce},
		{"a CloudEvents batch", "application/cloudevents-batch+json; charset=utf-8", "Notification", ceBatch},
		{"no aeg-event-type (a CloudEvents client)", "application/cloudevents+json", "", ce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &fakeIngester{summary: guard.Summary{Changes: 2, Ignored: 1}}
			h, _ := newTestHandler(t, ing, nil)
			headers := map[string]string{"Content-Type": tt.contentType, "aeg-delivery-count": "0", "Origin": "eventgrid.azure.net"}
			if tt.eventType != "" {
				headers["aeg-event-type"] = tt.eventType
			}
			res := callWebhook(t, h, webhookInvocation("POST", headers, tt.body))
			if res.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200: %s", res.StatusCode, res.Body)
			}
			// The delivery reaches the pipeline whole, byte for byte (trimmed),
			// once, as an Event Grid delivery at the handler's clock.
			if diff := cmp.Diff([]string{strings.TrimSpace(tt.body)}, ing.bodies()); diff != "" {
				t.Errorf("Ingest bodies (-want +got):\n%s", diff)
			}
			if c := ing.ingested[0]; c.src != guard.SourceEventGrid || !c.now.Equal(fixedNow) {
				t.Errorf("Ingest(%q, …, %v), want (%q, …, %v)", c.src, c.now, guard.SourceEventGrid, fixedNow)
			}
			if !slices.ContainsFunc(res.logs, func(l string) bool { return strings.Contains(l, "eventgrid: delivery (2 changes") }) {
				t.Errorf("Logs = %q", res.logs)
			}
		})
	}

	t.Run("a body the host sent as base64 (octet-stream)", func(t *testing.T) {
		ing := &fakeIngester{}
		h, _ := newTestHandler(t, ing, nil)
		res := callWebhook(t, h, webhookInvocation("POST", map[string]string{"aeg-event-type": "Notification",
			"Content-Type": "application/octet-stream"}, base64.StdEncoding.EncodeToString([]byte(ce))))
		if res.StatusCode != http.StatusOK || len(ing.ingested) != 1 || string(ing.ingested[0].body) != strings.TrimSpace(ce) {
			t.Errorf("= %d, ingested %q", res.StatusCode, ing.bodies())
		}
	})

	t.Run("the store fails: 500 so that Event Grid delivers again", func(t *testing.T) {
		ing := &fakeIngester{ingestErr: func(int) error { return errStoreDown }}
		h, _ := newTestHandler(t, ing, nil)
		res := callWebhook(t, h, webhookInvocation("POST", map[string]string{"aeg-event-type": "Notification"}, egArray))
		if res.StatusCode != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", res.StatusCode)
		}
		if s := string(res.Body) + strings.Join(res.logs, "\n"); strings.Contains(s, "SECRETSIG") || strings.Contains(s, "cosmos.example.net") {
			t.Errorf("the answer leaks the failure: %s", s)
		}
	})

	for name, tc := range map[string]struct {
		method, eventType, body string
		want                    int
	}{
		"Unsubscribe":            {"POST", "Unsubscribe", egArray, http.StatusAccepted},
		"an unknown event type":  {"POST", "Hello", egArray, http.StatusBadRequest},
		"no body":                {"POST", "Notification", "", http.StatusBadRequest},
		"a body that is no JSON": {"POST", "Notification", "not json", http.StatusBadRequest},
		"GET":                    {"GET", "", "", http.StatusMethodNotAllowed},
	} {
		t.Run(name, func(t *testing.T) {
			ing := &fakeIngester{}
			h, _ := newTestHandler(t, ing, nil)
			headers := map[string]string{}
			if tc.eventType != "" {
				headers["aeg-event-type"] = tc.eventType
			}
			res := callWebhook(t, h, webhookInvocation(tc.method, headers, tc.body))
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %s", res.StatusCode, tc.want, res.Body)
			}
			if len(ing.ingested) != 0 {
				t.Errorf("reached the pipeline: %q", ing.bodies())
			}
		})
	}

	t.Run("no Data.req: the invocation is refused", func(t *testing.T) {
		h, _ := newTestHandler(t, &fakeIngester{}, nil)
		checkError(t, do(h, hostRequest(http.MethodPost, "/"+fnEventGrid, []byte(`{"Data":{},"Metadata":{}}`))), http.StatusBadRequest)
	})
}

// FuzzEventGridWebhook: whatever a caller sends the eventgrid function (any
// method, event type, origin and body), the handler does not panic, and the
// host gets a JSON answer: the invocation answered, the caller's status in
// Outputs.res.
func FuzzEventGridWebhook(f *testing.F) {
	f.Add("POST", "SubscriptionValidation", "", `[{"eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"x"}}]`)
	f.Add("POST", "Notification", "", `[{"id":"1","eventType":"Microsoft.Resources.ResourceWriteSuccess","data":{}}]`)
	f.Add("OPTIONS", "", "eventgrid.azure.net", "")
	f.Add("POST", "SubscriptionValidation", "", `{"type":"x","data":"\"{\\\"validationCode\\\":\\\"y\\\"}\""}`)
	f.Add("PUT", "Unsubscribe", "*", "e30=")
	f.Fuzz(func(t *testing.T, method, eventType, origin, body string) {
		h, _ := newTestHandler(t, acceptingIngester{}, nil)
		w := do(h, hostRequest(http.MethodPost, "/"+fnEventGrid, webhookInvocation(method,
			map[string]string{"aeg-event-type": eventType, "WebHook-Request-Origin": origin}, body)))
		if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", w.Body)
		}
	})
}
