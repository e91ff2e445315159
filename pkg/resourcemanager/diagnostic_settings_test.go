package resourcemanager

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The subscription's diagnostic settings are read as one list, at the
// documented api-version, and come back as a state with the collection's ID
// (the list carries none); the subscription itself is not a resource to read.
func TestReadSubscriptionDiagnosticSettings(t *testing.T) {
	const sub = "fb9f25f9-5785-4510-a38f-a62f188eb9f8"
	settings := guard.DiagnosticSettingsID(sub)
	// The body of listSubscriptionDiagnosticSettings.json (azure-rest-api-specs,
	// Microsoft.Insights 2021-05-01-preview), and an empty list.
	const example = `{"value":[{"id":"subscriptions/` + sub + `/providers/AzureResourceManager/diagnosticSettings/ds4","type":null,"name":"ds4","properties":{"eventHubAuthorizationRuleId":"/subscriptions/` + sub + `/resourceGroups/apptest/providers/microsoft.eventhub/namespaces/mynamespace/eventhubs/myeventhub/authorizationrules/myrule","logs":[{"categoryGroup":"allLogs","enabled":true}]}}]}`
	for _, tc := range []struct {
		name, answer string
		settings     int
	}{
		{"the specification's example", example, 1},
		{"no setting", `{"value":[]}`, 0},
		{"no value at all", `{}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != settings || r.URL.Query().Get("api-version") != "2021-05-01-preview" {
					t.Errorf("got GET %s?%s, want %s?api-version=2021-05-01-preview", r.URL.Path, r.URL.RawQuery, settings)
				}
				_, _ = w.Write([]byte(tc.answer))
			})
			res, err := c.ReadResource(t.Context(), settings)
			if err != nil {
				t.Fatal(err)
			}
			if res.ID != settings || res.Type != guard.TypeDiagnosticSettings {
				t.Errorf("read %s (%s), want %s (%s)", res.ID, res.Type, settings, guard.TypeDiagnosticSettings)
			}
			var got struct{ Value []json.RawMessage }
			if err := json.Unmarshal(res.Body, &got); err != nil || len(got.Value) != tc.settings {
				t.Errorf("body %s: %d settings (%v), want %d", res.Body, len(got.Value), err, tc.settings)
			}
		})
	}
	t.Run("the subscription itself", func(t *testing.T) {
		c := newServer(t, func(w http.ResponseWriter, r *http.Request) { t.Errorf("asked ARM for %s", r.URL.Path) })
		if _, err := c.ReadResource(t.Context(), guard.SubscriptionID(sub)); !errors.Is(err, guard.ErrUnsupported) {
			t.Errorf("read of the subscription: %v, want ErrUnsupported", err)
		}
	})
}
