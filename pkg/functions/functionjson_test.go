package functions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// These tests hold the app files (functions/*/function.json, host.json,
// local.settings.sample.json) to what the handler reads and what the Functions
// host accepts (research note §1, §6).

const appRoot = "../.."

// binding is every key the function.json files may use. Decoding with unknown
// fields refused catches a misspelt key, which the host would silently ignore.
type binding struct {
	Type          string   `json:"type"`
	Name          string   `json:"name"`
	Direction     string   `json:"direction"`
	EventHubName  string   `json:"eventHubName,omitempty"`
	ConsumerGroup string   `json:"consumerGroup,omitempty"`
	Cardinality   string   `json:"cardinality,omitempty"`
	DataType      string   `json:"dataType,omitempty"`
	Connection    string   `json:"connection,omitempty"`
	Schedule      string   `json:"schedule,omitempty"`
	RunOnStartup  *bool    `json:"runOnStartup,omitempty"`
	UseMonitor    *bool    `json:"useMonitor,omitempty"`
	AuthLevel     string   `json:"authLevel,omitempty"`
	Methods       []string `json:"methods,omitempty"`
	Route         string   `json:"route,omitempty"`
}

type retryPolicy struct {
	Strategy        string `json:"strategy"`
	MaxRetryCount   int    `json:"maxRetryCount"`
	MinimumInterval string `json:"minimumInterval"`
	MaximumInterval string `json:"maximumInterval"`
}

type functionJSON struct {
	Bindings []binding    `json:"bindings"`
	Retry    *retryPolicy `json:"retry,omitempty"`
}

type hostJSON struct {
	Version       string `json:"version"`
	CustomHandler struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			Arguments             []string `json:"arguments"`
			WorkingDirectory      *string  `json:"workingDirectory"`
		} `json:"description"`
		EnableForwardingHttpRequest *bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	ExtensionBundle struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"extensionBundle"`
	Extensions struct {
		EventHubs struct {
			MaxEventBatchSize        int    `json:"maxEventBatchSize"`
			MinEventBatchSize        int    `json:"minEventBatchSize"`
			MaxWaitTime              string `json:"maxWaitTime"`
			BatchCheckpointFrequency int    `json:"batchCheckpointFrequency"`
			PrefetchCount            int    `json:"prefetchCount"`
			InitialOffsetOptions     struct {
				Type string `json:"type"`
			} `json:"initialOffsetOptions"`
		} `json:"eventHubs"`
	} `json:"extensions"`
	Retry           retryPolicy `json:"retry"`
	FunctionTimeout string      `json:"functionTimeout"`
	Logging         struct {
		LogLevel map[string]string `json:"logLevel"`
	} `json:"logging"`
}

type localSettings struct {
	IsEncrypted *bool             `json:"IsEncrypted"`
	Values      map[string]string `json:"Values"`
}

// decodeStrict decodes one JSON document into v: no unknown keys, no duplicate
// keys, nothing after it.
func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not strict JSON", path)
	}
	if err := noDuplicateKeys(json.NewDecoder(bytes.NewReader(b))); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: data after the JSON document", path)
	}
}

// noDuplicateKeys walks one JSON value and reports an object key given twice
// (encoding/json keeps the last; Newtonsoft may keep either or fail).
func noDuplicateKeys(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("key %q given twice", key)
			}
			seen[key] = true
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// functionFolders returns the function folder names under functions/.
func functionFolders(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(appRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

func readFunctionJSON(t *testing.T, name string) functionJSON {
	t.Helper()
	var f functionJSON
	decodeStrict(t, filepath.Join(appRoot, "functions", name, "function.json"), &f)
	return f
}

func trigger(t *testing.T, f functionJSON) binding {
	t.Helper()
	var triggers []binding
	for _, b := range f.Bindings {
		if strings.HasSuffix(b.Type, "Trigger") {
			triggers = append(triggers, b)
		}
		if b.Direction != "in" && b.Direction != "out" {
			t.Errorf("binding %q direction %q, want in or out", b.Name, b.Direction)
		}
	}
	if len(triggers) != 1 {
		t.Fatalf("%d trigger bindings, want 1", len(triggers))
	}
	if triggers[0].Direction != "in" {
		t.Errorf("trigger direction %q, want in", triggers[0].Direction)
	}
	return triggers[0]
}

func TestFunctionFolders(t *testing.T) {
	got := functionFolders(t)
	want := []string{fnActivityLog, fnAPI, fnDashboard, fnEventGrid, fnHealth, fnReconcile, fnResourceEvents, fnSweep}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("function folders (-want +got):\n%s", diff)
	}
	// Every folder has a route: the host POSTs to /<folder>. A bare envelope is
	// refused for its missing binding (400) or run, but never unknown (404) or
	// the wrong method (405).
	h, _ := newTestHandler(t, &fakeIngester{}, nil)
	for _, name := range got {
		w := do(h, hostRequest(http.MethodPost, "/"+name, []byte(`{"Data":{},"Metadata":{}}`)))
		if w.Code == http.StatusNotFound || w.Code == http.StatusMethodNotAllowed {
			t.Errorf("POST /%s = %d: the handler has no route for function folder %q", name, w.Code, name)
		}
	}
	// And every route has a folder.
	for name := range h.(*handler).functions {
		if !slices.Contains(got, name) {
			t.Errorf("the handler routes /%s, but functions/%s/function.json does not exist", name, name)
		}
	}
}

func TestActivityLogFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnActivityLog)
	want := binding{
		Type: "eventHubTrigger", Name: bindEvents, Direction: "in",
		EventHubName: "%ActivityLogEventHubName%", ConsumerGroup: "%ActivityLogConsumerGroup%",
		Cardinality: "many", DataType: "string", Connection: "ActivityLogEventHub",
	}
	if diff := cmp.Diff([]binding{want}, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
	wantRetry := &retryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: 5, MinimumInterval: "00:00:05", MaximumInterval: "00:05:00"}
	if diff := cmp.Diff(wantRetry, f.Retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
}

func TestResourceEventsFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnResourceEvents)
	want := []binding{{Type: "eventGridTrigger", Name: bindEvent, Direction: "in"}}
	if diff := cmp.Diff(want, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

func TestSweepFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnSweep)
	tr := trigger(t, f)
	if tr.Type != "timerTrigger" || tr.Name != bindTimer {
		t.Errorf("trigger = %s %q, want timerTrigger %q", tr.Type, tr.Name, bindTimer)
	}
	// NCRONTAB with seconds: six fields, every five minutes on the minute.
	if fields := strings.Fields(tr.Schedule); len(fields) != 6 || tr.Schedule != "0 */5 * * * *" {
		t.Errorf("schedule %q, want the six-field \"0 */5 * * * *\"", tr.Schedule)
	}
	if tr.RunOnStartup == nil || *tr.RunOnStartup {
		t.Errorf("runOnStartup = %v, want false", tr.RunOnStartup)
	}
	if tr.UseMonitor == nil || !*tr.UseMonitor {
		t.Errorf("useMonitor = %v, want true", tr.UseMonitor)
	}
	if len(f.Bindings) != 1 {
		t.Errorf("%d bindings, want the timer only", len(f.Bindings))
	}
}

func TestHealthFunctionJSON(t *testing.T) {
	f := readFunctionJSON(t, fnHealth)
	want := []binding{
		{Type: "httpTrigger", Name: bindReq, Direction: "in", AuthLevel: "anonymous", Methods: []string{"get"}, Route: "health"},
		{Type: "http", Name: bindRes, Direction: "out"},
	}
	if diff := cmp.Diff(want, f.Bindings); diff != "" {
		t.Errorf("bindings (-want +got):\n%s", diff)
	}
}

func TestHostJSON(t *testing.T) {
	var h hostJSON
	decodeStrict(t, filepath.Join(appRoot, "host.json"), &h)
	if h.Version != "2.0" {
		t.Errorf("version %q, want 2.0", h.Version)
	}
	d := h.CustomHandler.Description
	if d.DefaultExecutablePath != "exportguard" || !slices.Equal(d.Arguments, []string{"serve"}) || d.WorkingDirectory == nil || *d.WorkingDirectory != "" {
		t.Errorf("customHandler.description = %+v, want exportguard [serve] in the app root", d)
	}
	if f := h.CustomHandler.EnableForwardingHttpRequest; f == nil || *f {
		t.Errorf("enableForwardingHttpRequest = %v, want false: /health reads the invocation envelope", f)
	}
	if h.ExtensionBundle.ID != "Microsoft.Azure.Functions.ExtensionBundle" || h.ExtensionBundle.Version != "[4.*, 5.0.0)" {
		t.Errorf("extensionBundle = %+v, want Microsoft.Azure.Functions.ExtensionBundle [4.*, 5.0.0)", h.ExtensionBundle)
	}
	eh := h.Extensions.EventHubs
	if eh.MaxEventBatchSize != 8 || eh.MinEventBatchSize != 1 || eh.MaxWaitTime != "00:00:30" ||
		eh.BatchCheckpointFrequency != 1 || eh.PrefetchCount != 300 || eh.InitialOffsetOptions.Type != "fromStart" {
		t.Errorf("extensions.eventHubs = %+v", eh)
	}
	wantRetry := retryPolicy{Strategy: "exponentialBackoff", MaxRetryCount: 5, MinimumInterval: "00:00:05", MaximumInterval: "00:05:00"}
	if diff := cmp.Diff(wantRetry, h.Retry); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	if h.FunctionTimeout != "00:10:00" {
		t.Errorf("functionTimeout %q, want 00:10:00", h.FunctionTimeout)
	}
	if h.Logging.LogLevel["default"] != "Information" {
		t.Errorf("logging.logLevel.default %q, want Information", h.Logging.LogLevel["default"])
	}
}

func TestLocalSettingsSample(t *testing.T) {
	var s localSettings
	decodeStrict(t, filepath.Join(appRoot, "local.settings.sample.json"), &s)
	if s.IsEncrypted == nil || *s.IsEncrypted {
		t.Errorf("IsEncrypted = %v, want false", s.IsEncrypted)
	}
	want := map[string]string{
		"FUNCTIONS_WORKER_RUNTIME":                     "custom",
		"AzureWebJobsStorage":                          "UseDevelopmentStorage=true",
		"ActivityLogEventHub__fullyQualifiedNamespace": "<namespace>.servicebus.windows.net",
		"ActivityLogEventHubName":                      "insights-activity-logs",
		"ActivityLogConsumerGroup":                     "exportguard",
		"EXPORTGUARD_STORE":                            "sqlite:exportguard.db",
		"EXPORTGUARD_POLICY":                           "",
		"EXPORTGUARD_LOG_LEVEL":                        "info",
		"COSMOS_KEY":                                   "",
		"EXPORTGUARD_PUBLIC_URL":                       "https://<function-app>.azurewebsites.net",
		// the notification URLs a policy reads as env:NAME (notify.*.url)
		"EXPORTGUARD_TEAMS_URL":   "",
		"EXPORTGUARD_SLACK_URL":   "",
		"EXPORTGUARD_WEBHOOK_URL": "",
		"AZURE_CLIENT_ID":         "",
		"AZURE_TENANT_ID":         "",
		// func start has no App Service authentication in front (authz.go).
		"EXPORTGUARD_API_AUTH": "local",
	}
	if diff := cmp.Diff(want, s.Values); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}

	// Every %Setting% a function.json names, and every identity-based connection
	// prefix, has a value to resolve to.
	ref := regexp.MustCompile(`%([^%]+)%`)
	for _, name := range functionFolders(t) {
		for _, b := range readFunctionJSON(t, name).Bindings {
			for _, v := range []string{b.EventHubName, b.ConsumerGroup, b.Schedule} {
				for _, m := range ref.FindAllStringSubmatch(v, -1) {
					if _, ok := s.Values[m[1]]; !ok {
						t.Errorf("functions/%s binding %q uses %%%s%%, which local.settings.sample.json does not set", name, b.Name, m[1])
					}
				}
			}
			if b.Connection != "" {
				if _, ok := s.Values[b.Connection+"__fullyQualifiedNamespace"]; !ok {
					t.Errorf("functions/%s connection %q has no %s__fullyQualifiedNamespace setting", name, b.Connection, b.Connection)
				}
			}
		}
	}
}
