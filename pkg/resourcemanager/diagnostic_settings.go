package resourcemanager

import (
	"encoding/json"
	"fmt"

	"github.com/exportguard/exportguard/pkg/guard"
)

// settingsList makes the answer to SubscriptionDiagnosticSettings_List
// (GET /subscriptions/{id}/providers/Microsoft.Insights/diagnosticSettings,
// api-version 2021-05-01-preview, which has no next page: "x-ms-pageable":
// {"nextLinkName": null}, https://learn.microsoft.com/rest/api/monitor/subscription-diagnostic-settings/list)
// a state like any resource's: the list's {"value": [...]} with the
// collection's ID and type, which the list itself does not carry, so that
// replay records and answers it as it does any resource.
func settingsList(id string, body []byte) ([]byte, error) {
	var list struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("diagnostic settings list: %w", err)
	}
	if list.Value == nil {
		list.Value = []json.RawMessage{}
	}
	return json.Marshal(struct {
		ID    string            `json:"id"`
		Type  string            `json:"type"`
		Value []json.RawMessage `json:"value"`
	}{id, guard.TypeDiagnosticSettings, list.Value})
}
