package guard

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckResourceID(t *testing.T) {
	const sub = "/subscriptions/7d5c2a1e-4b8f-4c3a-9e2d-1f6a8b3c5d70"
	tests := []struct {
		name, id, reason string // reason "" passes
	}{
		// Real shapes (research/azure-events.md, testdata/sessions) pass.
		{"storage account", sub + "/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/eudrbackup", ""},
		{"upper case, as the Activity Log sends it", "/SUBSCRIPTIONS/7D5C2A1E/RESOURCEGROUPS/RG-DR/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/EUDRBACKUP", ""},
		{"subscription", sub, ""},
		{"role assignment at a subscription", sub + "/providers/Microsoft.Authorization/roleAssignments/bdd6ac10-2563-4467-b006-77a4c459ce9f", ""},
		{"role assignment at a management group", "/providers/Microsoft.Management/managementGroups/mg-itar/providers/Microsoft.Authorization/roleAssignments/bdd6ac10", ""},
		{"PIM schedule", "/providers/Microsoft.Subscription/subscriptions/dfa2a084/providers/Microsoft.Authorization/RoleAssignmentSchedules/c9e264ff", ""},
		{"child resource", sub + "/resourceGroups/rg/providers/Microsoft.Sql/servers/s/encryptionProtector/current", ""},
		{"JIT rule name", sub + "/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/n/securityRules/SecurityCenter-JITRule_-1234_ABCD", ""},
		{"dots inside a name", sub + "/resourceGroups/rg.v2/providers/Microsoft.Web/sites/a..b", ""},
		{"space inside a name", sub + "/resourceGroups/my rg", ""},
		{"non-ASCII name", sub + "/resourceGroups/rg-café", ""},

		{"empty", "", "empty"},
		{"relative", "subscriptions/x/resourceGroups/rg", "no leading slash"},
		{"space first", " " + sub, "no leading slash"},
		{"root", "/", "empty segment"},
		{"double slash", sub + "//resourceGroups/rg", "empty segment"},
		{"blank segment", sub + "/ /rg", "empty segment"},
		{"trailing slash", sub + "/resourceGroups/rg/", "trailing slash"},
		{"dot dot", sub + "/resourceGroups/rg/../../../subscriptions/OTHER/resourceGroups/rg", "dot segment"},
		{"dot", sub + "/./resourceGroups/rg", "dot segment"},
		{"dot dot last", sub + "/resourceGroups/..", "dot segment"},
		{"three dots", sub + "/resourceGroups/...", "dot segment"},
		{"dot dot and a space", sub + "/resourceGroups/.. /x", "dot segment"},
		{"backslash", sub + "/resourceGroups/rg\\..\\x", "backslash"},
		{"percent-escaped dots", sub + "/resourceGroups/%2e%2e/x", "percent-escape"},
		{"percent-escaped slash", sub + "/resourceGroups/rg%2Fx", "percent-escape"},
		{"lone percent", sub + "/resourceGroups/100%", "percent-escape"},
		{"query", sub + "/resourceGroups/rg?api-version=1", "query or fragment character"},
		{"fragment", sub + "/resourceGroups/rg#x", "query or fragment character"},
		{"NUL", sub + "/resourceGroups/r\x00g", "control character"},
		{"newline", sub + "/resourceGroups/rg\n", "control character"},
		{"DEL", sub + "/resourceGroups/rg\x7f", "control character"},
		{"C1 control", sub + "/resourceGroups/rg\u0085", "control character"},
		{"invalid UTF-8", sub + "/resourceGroups/r\xffg", "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResourceID(tt.id)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused a real ID: %v", err)
				}
				return
			}
			var ie *ResourceIDError
			if !errors.As(err, &ie) || ie.Reason != tt.reason || !errors.Is(err, ErrBadResourceID) {
				t.Fatalf("got %v, want the reason %q", err, tt.reason)
			}
		})
	}
}

// The reason never carries the input, however large.
func TestCheckResourceIDReasonIsShort(t *testing.T) {
	huge := "/subscriptions/x/" + strings.Repeat("a/", 1<<20) + "../b"
	err := CheckResourceID(huge)
	if err == nil || len(err.Error()) > 64 {
		t.Fatalf("error %.100q (%d bytes), want a short refusal", err, len(err.Error()))
	}
}

func TestWithinScopeOnSegments(t *testing.T) {
	const a = "/subscriptions/ALLOWED/resourceGroups/rg"
	tests := []struct {
		id, scope string
		want      bool
	}{
		{a + "/providers/Microsoft.Storage/storageAccounts/x", a, true},
		{a, a, true},
		{strings.ToLower(a) + "/providers/x/y/z", a + "/", true},
		{a + "b/providers/x/y/z", a, false},
		{"/subscriptions/allowed", a, false},
		{a + "/../../../subscriptions/OTHER/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x", a, false},
		{a + "/%2e%2e/%2e%2e/%2e%2e/subscriptions/OTHER", a, false},
		{a + "/x", a + "/..", false},
		{a + "/x", "", false},
	}
	for _, tt := range tests {
		if got := WithinScope(tt.id, tt.scope); got != tt.want {
			t.Errorf("WithinScope(%q, %q) = %v, want %v", tt.id, tt.scope, got, tt.want)
		}
	}
}
