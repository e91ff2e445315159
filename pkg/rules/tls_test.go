package rules

import (
	"strings"
	"testing"

	"github.com/exportguard/exportguard/pkg/guard"
)

func TestStorageTLS(t *testing.T) {
	tls := func(v any) func(map[string]any) {
		return func(m map[string]any) { set(m, "properties.minimumTlsVersion", v) }
	}
	https := func(v any) func(map[string]any) {
		return func(m map[string]any) { set(m, "properties.supportsHttpsTrafficOnly", v) }
	}
	tests := []struct {
		name          string
		edit          func(map[string]any)
		wantViolation bool
		wantTLS       any
		wantHTTPS     any
		wantAction    string
	}{
		{"spec GET: no minimumTlsVersion, HTTPS-only false", noEdit, true, "TLS1_0 (absent: the default)", false,
			"set properties.minimumTlsVersion to TLS1_2 and set properties.supportsHttpsTrafficOnly to true"},
		{"TLS1_2 and HTTPS only", then(tls("TLS1_2"), https(true)), false, "TLS1_2", true, ""},
		{"TLS1_3", then(tls("TLS1_3"), https(true)), false, "TLS1_3", true, ""},
		{"TLS1_1 only", then(tls("TLS1_1"), https(true)), true, "TLS1_1", true, "set properties.minimumTlsVersion to TLS1_2"},
		{"TLS1_0 explicit", then(tls("TLS1_0"), https(true)), true, "TLS1_0", true, "set properties.minimumTlsVersion to TLS1_2"},
		{"HTTP only", then(tls("TLS1_2"), https(false)), true, "TLS1_2", false, "set properties.supportsHttpsTrafficOnly to true"},
		{"notification 1/0 booleans", then(tls("TLS1_2"), https(0)), true, "TLS1_2", false, "set properties.supportsHttpsTrafficOnly to true"},
		{"notification 1", then(tls("TLS1_2"), https(1)), false, "TLS1_2", true, ""},
		{"HTTPS-only absent: the default", then(tls("TLS1_2"), https(dropField)), false, "TLS1_2", "true (absent: the default)", ""},
		{"a version not known", then(tls("SSL3"), https(true)), true, "SSL3", true, "set properties.minimumTlsVersion to TLS1_2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, StorageTLS{}, polUS, fixture(t, "storage_account_get.json", tt.edit)))
			if v.Violation != tt.wantViolation || v.Action != tt.wantAction {
				t.Errorf("verdict %+v, want violation %v, action %q", v, tt.wantViolation, tt.wantAction)
			}
			if v.Evidence["minimumTlsVersion"] != tt.wantTLS || v.Evidence["supportsHttpsTrafficOnly"] != tt.wantHTTPS {
				t.Errorf("evidence %v, want TLS %v and HTTPS-only %v", v.Evidence, tt.wantTLS, tt.wantHTTPS)
			}
		})
	}
	v := one(t, judge(t, StorageTLS{}, polUS, fixture(t, "storage_account_get.json", noEdit)))
	if want := "Storage account sto8596 accepts TLS 1.0 and 1.1 (minimum TLS1_0, the default when minimumTlsVersion is absent) and accepts plain HTTP (supportsHttpsTrafficOnly false)."; v.Message != want {
		t.Errorf("message\n%q, want\n%q", v.Message, want)
	}
	if vs := judge(t, StorageTLS{}, polUS, fixture(t, "storage_account_get.json", func(m map[string]any) { delete(m, "properties") })); len(vs) != 0 {
		t.Errorf("no properties: %+v", vs)
	}
}

func TestSQLTLS(t *testing.T) {
	tests := []struct {
		version       any
		wantViolation bool
		wantIn        string
	}{
		{dropField, true, "sets no minimal TLS version (absent)"}, // the spec's ServerGet
		{"None", true, "sets no minimal TLS version (None)"},
		{"1.0", true, "accepts TLS 1.0 and 1.1 (minimum 1.0)"},
		{"1.1", true, "accepts TLS 1.1 (minimum 1.1)"},
		{"1.2", false, "accepts only TLS 1.2 or later"},
		{"1.3", false, "accepts only TLS 1.3 or later"},
	}
	for _, tt := range tests {
		t.Run(anyText(tt.version), func(t *testing.T) {
			v := one(t, judge(t, SQLTLS{}, polUS, fixture(t, "sql_server_get.json", func(m map[string]any) { set(m, "properties.minimalTlsVersion", tt.version) })))
			if v.Violation != tt.wantViolation || !strings.Contains(v.Message, tt.wantIn) || !strings.Contains(v.Message, "sqlcrudtest-4645") {
				t.Errorf("verdict %+v, want violation %v and %q", v, tt.wantViolation, tt.wantIn)
			}
			if v.Violation && v.Action != "set properties.minimalTlsVersion to 1.2" {
				t.Errorf("action %q", v.Action)
			}
		})
	}
}

func TestCosmosTLS(t *testing.T) {
	tests := []struct {
		version       any
		wantViolation bool
		wantEvidence  string
		wantIn        string
	}{
		{"Tls", true, "Tls", "accepts TLS 1.0 and 1.1 (minimum Tls)"}, // the spec's GET
		{"Tls11", true, "Tls11", "accepts TLS 1.1 (minimum Tls11)"},
		{"Tls12", false, "Tls12", "accepts only TLS 1.2 or later"},
		{"Tls13", false, "Tls13", "accepts only TLS 1.3 or later"},
		{dropField, false, "(absent: Tls12, the Cosmos DB default; TLS 1.0 and 1.1 retired on 2025-08-31)", "(the service default)"},
		{"", false, "(absent: Tls12, the Cosmos DB default; TLS 1.0 and 1.1 retired on 2025-08-31)", "(the service default)"},
		{"Ssl3", true, "Ssl3", "not a version exportguard recognises"},
	}
	for _, tt := range tests {
		t.Run(anyText(tt.version), func(t *testing.T) {
			v := one(t, judge(t, CosmosTLS{}, polUS, fixture(t, "cosmos_account_get.json", func(m map[string]any) { set(m, "properties.minimalTlsVersion", tt.version) })))
			if v.Violation != tt.wantViolation || v.Evidence["minimalTlsVersion"] != tt.wantEvidence || !strings.Contains(v.Message, tt.wantIn) {
				t.Errorf("verdict %+v, want violation %v, evidence %q, message with %q", v, tt.wantViolation, tt.wantEvidence, tt.wantIn)
			}
			if v.Violation && v.Action != "set properties.minimalTlsVersion to Tls12" {
				t.Errorf("action %q", v.Action)
			}
		})
	}
}

func anyText(v any) string {
	if s, ok := v.(string); ok {
		return "version " + s
	}
	return "absent"
}

func TestTLSVersion(t *testing.T) {
	for in, want := range map[string]int{"TLS1_0": 10, "TLS1_1": 11, "TLS1_2": 12, "TLS1_3": 13, "tls1_2": 12, "1.0": 10, "1.2": 12, "1.3": 13,
		"Tls": 10, "Tls11": 11, "Tls12": 12, "Tls13": 13, " TLS1_2 ": 12} {
		if got, ok := tlsVersion(in); !ok || got != want {
			t.Errorf("tlsVersion(%q) = %d, %v, want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "None", "TLS1_4", "SSL3", "2.0", "x"} {
		if got, ok := tlsVersion(in); ok {
			t.Errorf("tlsVersion(%q) = %d, want not ok", in, got)
		}
	}
}

// Every data rule: the four data rule IDs, and for each resource type at most
// one rule per rule ID, so that no two rules write the same finding.
func TestDataRulesRegistered(t *testing.T) {
	ids := map[string]bool{}
	for _, r := range dataRules() {
		ids[r.ID()] = true
	}
	for _, id := range []string{guard.RuleResidencyLocation, guard.RuleResidencyReplication, guard.RuleEncryptionCMK, guard.RuleTransitTLS} {
		if !ids[id] {
			t.Errorf("no data rule %s", id)
		}
	}
	types := []string{TypeStorageAccount, TypeCosmosAccount, TypeSQLServer, TypeSQLEncryptionProtector, TypeSQLFailoverGroup,
		TypeSQLDatabase, TypeSQLReplicationLink, TypeDisk, TypeDiskEncryptionSet, TypeKeyVaultKey, "Microsoft.Web/sites"}
	for _, typ := range types {
		for _, typ := range []string{typ, strings.ToUpper(typ), strings.ToLower(typ)} {
			per := map[string]int{}
			for _, r := range dataRules() {
				if _, keyUse := r.(KeyVaultKeyUse); r.Applies(typ) && !keyUse {
					// KeyVaultKeyUse is encryption.cmk beside a type's own CMK
					// rule: its findings are about the keys a resource uses, each
					// with the key as its grant.
					per[r.ID()]++
				}
			}
			for id, n := range per {
				if n > 1 {
					t.Errorf("%d rules %s apply to %s", n, id, typ)
				}
			}
			if per[guard.RuleResidencyLocation] != 1 {
				t.Errorf("residency.location does not apply to %s", typ)
			}
		}
	}
	want := map[string][]string{
		TypeStorageAccount:         {guard.RuleResidencyReplication, guard.RuleEncryptionCMK, guard.RuleTransitTLS},
		TypeCosmosAccount:          {guard.RuleResidencyReplication, guard.RuleTransitTLS},
		TypeSQLServer:              {guard.RuleEncryptionCMK, guard.RuleTransitTLS},
		TypeSQLEncryptionProtector: {guard.RuleEncryptionCMK},
		TypeSQLFailoverGroup:       {guard.RuleResidencyReplication},
		TypeSQLReplicationLink:     {guard.RuleResidencyReplication},
		TypeDisk:                   {guard.RuleEncryptionCMK},
		TypeKeyVaultKey:            {guard.RuleEncryptionCMK},
	}
	for typ, rules := range want {
		for _, id := range rules {
			found := false
			for _, r := range dataRules() {
				found = found || (r.ID() == id && r.Applies(typ))
			}
			if !found {
				t.Errorf("no %s rule applies to %s", id, typ)
			}
		}
	}
	var dep int
	for _, r := range dataRules() {
		if _, ok := r.(guard.DependentRule); ok {
			dep++
		}
	}
	if dep != 1 {
		t.Errorf("%d dependent data rules, want the Key Vault key rule", dep)
	}
	for _, typ := range []string{TypeStorageAccount, TypeSQLEncryptionProtector, TypeDiskEncryptionSet, TypeCosmosAccount} {
		if !(KeyVaultKeyUse{}).Applies(typ) {
			t.Errorf("KeyVaultKeyUse does not apply to %s, whose key KeyVaultKey judges", typ)
		}
	}
}
