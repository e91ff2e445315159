package rules

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// withCMK merges the spec's CMK-enabled identity and encryption into the
// storage account GET (both S11).
func withCMK(t *testing.T) func(map[string]any) {
	return func(m map[string]any) {
		raw, err := os.ReadFile("testdata/storage_account_cmk_excerpt.json")
		if err != nil {
			t.Fatal(err)
		}
		var x map[string]any
		if err := json.Unmarshal(raw, &x); err != nil {
			t.Fatal(err)
		}
		m["identity"] = x["identity"]
		m["properties"].(map[string]any)["encryption"] = x["properties"].(map[string]any)["encryption"]
	}
}

func then(edits ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, e := range edits {
			e(m)
		}
	}
}

func TestStorageCMK(t *testing.T) {
	tests := []struct {
		name          string
		edit          func(map[string]any)
		wantViolation bool
		wantSource    string
	}{
		{"spec GET: Microsoft.Storage", noEdit, true, "Microsoft.Storage"},
		{"spec CMK: Microsoft.Keyvault", withCMK(t), false, "Microsoft.Keyvault"},
		{"KeyVault in other casing", then(withCMK(t), func(m map[string]any) { set(m, "properties.encryption.keySource", "Microsoft.KeyVault") }), false, "Microsoft.KeyVault"},
		{"no key source: Microsoft-managed", func(m map[string]any) { set(m, "properties.encryption.keySource", dropField) }, true, "(absent: Microsoft-managed keys)"},
		{"no encryption at all", func(m map[string]any) { set(m, "properties.encryption", dropField) }, true, "(absent: Microsoft-managed keys)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, StorageCMK{}, polUS, fixture(t, "storage_account_get.json", tt.edit)))
			if v.Violation != tt.wantViolation || v.Evidence["keySource"] != tt.wantSource {
				t.Errorf("verdict %+v, want violation %v with keySource %q", v, tt.wantViolation, tt.wantSource)
			}
			if !strings.Contains(v.Message, "sto8596") {
				t.Errorf("message %q does not name the account", v.Message)
			}
			if !tt.wantViolation && v.Evidence["keyName"] != "wrappingKey" {
				t.Errorf("evidence %v lacks the key", v.Evidence)
			}
		})
	}
	if vs := judge(t, StorageCMK{}, polUS, fixture(t, "storage_account_get.json", func(m map[string]any) { delete(m, "properties") })); len(vs) != 0 {
		t.Errorf("no properties: got %+v, want no verdict", vs)
	}
}

// CMK was on and is now off: the finding says which key it had, and the action
// restores it.
func TestStorageCMKTurnedOff(t *testing.T) {
	prev := resource(t, fixture(t, "storage_account_get.json", withCMK(t)))
	prev.ObservedAt = testNow.Add(-time.Hour)
	cur := resource(t, fixture(t, "storage_account_get.json", noEdit))
	v := one(t, judgeIn(t, StorageCMK{}, guard.Input{Policy: polUS, Resource: cur, Previous: prev, Now: testNow}))
	if !v.Violation || !strings.Contains(v.Message, "switched from customer-managed key wrappingKey") {
		t.Errorf("message %q", v.Message)
	}
	if want := "set properties.encryption.keySource back to Microsoft.Keyvault with keyvaultproperties keyname wrappingKey and keyvaulturi https://myvault8569.vault.azure.net (the key it had)"; v.Action != want {
		t.Errorf("Action = %q, want %q", v.Action, want)
	}
	if pk, _ := v.Evidence["previousKey"].(map[string]any); pk["keyName"] != "wrappingKey" {
		t.Errorf("evidence previousKey = %v", v.Evidence["previousKey"])
	}
}

func TestSQLTDE(t *testing.T) {
	server := "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/sqlcrudtest-7398/providers/Microsoft.Sql/servers/sqlcrudtest-4645"
	prot := server + "/encryptionProtector/current"
	akv := resource(t, fixture(t, "sql_encryption_protector_get.json", noEdit))
	sm := resource(t, fixture(t, "sql_encryption_protector_service_managed.json", noEdit))

	t.Run("Key Vault protector", func(t *testing.T) {
		v := one(t, judgeIn(t, SQLTDE{}, guard.Input{Policy: polUS, Resource: akv, Now: testNow}))
		if v.Violation || v.ResourceID != server || v.GrantID != guard.ChildVerdictGrant(prot) {
			t.Errorf("verdict %+v, want compliant on the server with the protector's grant", v)
		}
	})
	t.Run("service-managed protector", func(t *testing.T) {
		v := one(t, judgeIn(t, SQLTDE{}, guard.Input{Policy: polUS, Resource: sm, Now: testNow}))
		if !v.Violation || v.ResourceID != server || v.GrantID != guard.ChildVerdictGrant(prot) || v.Evidence["serverKeyType"] != "ServiceManaged" {
			t.Errorf("verdict %+v", v)
		}
		if v.Message != "SQL server sqlcrudtest-4645 protects TDE with a service-managed key, not a customer-managed key in Key Vault." {
			t.Errorf("message %q", v.Message)
		}
	})
	t.Run("switched from Key Vault", func(t *testing.T) {
		v := one(t, judgeIn(t, SQLTDE{}, guard.Input{Policy: polUS, Resource: sm, Previous: akv, Now: testNow}))
		if !v.Violation || !strings.Contains(v.Action, "serverKeyName someVault_someKey_01234567890123456789012345678901 (the key it had)") ||
			!strings.Contains(v.Message, "switched its TDE protector from Key Vault key https://someVault.vault.azure.net/keys/someKey/") {
			t.Errorf("verdict %+v", v)
		}
	})
	t.Run("server: gathers its protector", func(t *testing.T) {
		srv := resource(t, fixture(t, "sql_server_get.json", noEdit))
		if got := (SQLTDE{}).Related(srv, nil); len(got) != 1 || got[0] != prot {
			t.Fatalf("Related(server) = %v, want [%s]", got, prot)
		}
		if got := (SQLTDE{}).Related(sm, nil); got != nil {
			t.Errorf("Related(protector) = %v, want nothing", got)
		}
		in := guard.Input{Policy: polUS, Resource: srv, Previous: akv /* the server's previous state, never a protector's */, Now: testNow,
			Related: map[string]*guard.Resource{guard.IDKey(prot): sm}}
		v := one(t, judgeIn(t, SQLTDE{}, in))
		if !v.Violation || v.ResourceID != server || v.GrantID != guard.ChildVerdictGrant(prot) || strings.Contains(v.Message, "switched") {
			t.Errorf("verdict %+v", v)
		}
		for _, related := range []map[string]*guard.Resource{nil, {guard.IDKey(prot): nil}, {guard.IDKey(prot): {ID: prot, Deleted: true}}} {
			if vs := (SQLTDE{}).Evaluate(guard.Input{Policy: polUS, Resource: srv, Related: related, Now: testNow}); len(vs) != 0 {
				t.Errorf("protector unknown (%v): got %+v, want no verdict", related, vs)
			}
		}
	})
}

func TestDiskCMK(t *testing.T) {
	des := "/subscriptions/{subscription-id}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/diskEncryptionSets/{existing-diskEncryptionSet-name}"
	enc := func(typ, desID any) func(map[string]any) {
		return func(m map[string]any) {
			set(m, "properties.encryption.type", typ)
			set(m, "properties.encryption.diskEncryptionSetId", desID)
		}
	}
	tests := []struct {
		name          string
		file          string
		edit          func(map[string]any)
		wantViolation bool
		wantType      string
	}{
		{"spec Disk_Get: platform key (ADE on)", "disk_get.json", noEdit, true, "EncryptionAtRestWithPlatformKey"},
		{"spec DES disk: no type, a set", "disk_with_des.json", noEdit, false, "(absent)"},
		{"customer key", "disk_get.json", enc("EncryptionAtRestWithCustomerKey", des), false, "EncryptionAtRestWithCustomerKey"},
		{"platform and customer keys", "disk_get.json", enc("EncryptionAtRestWithPlatformAndCustomerKeys", des), false, "EncryptionAtRestWithPlatformAndCustomerKeys"},
		{"platform key beside a set: the type decides", "disk_get.json", enc("EncryptionAtRestWithPlatformKey", des), true, "EncryptionAtRestWithPlatformKey"},
		{"no type, no set", "disk_with_des.json", enc(dropField, dropField), true, "(absent)"},
		{"no encryption object", "disk_get.json", func(m map[string]any) { set(m, "properties.encryption", dropField) }, true, "(absent)"},
		{"an unknown type", "disk_get.json", enc("EncryptionAtRestWithSomethingElse", dropField), true, "EncryptionAtRestWithSomethingElse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, DiskCMK{}, polUS, fixture(t, tt.file, tt.edit)))
			if v.Violation != tt.wantViolation || v.Evidence["encryptionType"] != tt.wantType {
				t.Errorf("verdict %+v, want violation %v, type %q", v, tt.wantViolation, tt.wantType)
			}
		})
	}
	t.Run("ADE is reported, not counted", func(t *testing.T) {
		v := one(t, judge(t, DiskCMK{}, polUS, fixture(t, "disk_get.json", noEdit)))
		if v.Evidence["azureDiskEncryption"] != true || v.Message != "Managed disk myManagedDisk is encrypted at rest with platform-managed keys, not a customer-managed key from a disk encryption set." {
			t.Errorf("verdict %+v", v)
		}
	})
	t.Run("switched from a set", func(t *testing.T) {
		prev := resource(t, fixture(t, "disk_with_des.json", noEdit))
		cur := resource(t, fixture(t, "disk_with_des.json", enc("EncryptionAtRestWithPlatformKey", dropField)))
		v := one(t, judgeIn(t, DiskCMK{}, guard.Input{Policy: polUS, Resource: cur, Previous: prev, Now: testNow}))
		if !v.Violation || v.Evidence["previousDiskEncryptionSetId"] != des || !strings.Contains(v.Action, des+" (the set it had)") {
			t.Errorf("verdict %+v", v)
		}
	})
	if vs := judge(t, DiskCMK{}, polUS, fixture(t, "disk_get.json", func(m map[string]any) { delete(m, "properties") })); len(vs) != 0 {
		t.Errorf("no properties: got %+v, want no verdict", vs)
	}
}

// A confidential VM's disk names its set in securityProfile (spec example
// Disk_Create_ConfidentialVMSupportedDiskEncryptedWithCMK.json, 200 body, in
// testdata/disk_confidential_cmk.json: no encryption object at all); the set
// is judged as encryption.diskEncryptionSetId is, securityType deciding.
func TestDiskCMKConfidentialVM(t *testing.T) {
	profile := func(typ, desID any) func(map[string]any) {
		return func(m map[string]any) {
			set(m, "properties.securityProfile.securityType", typ)
			set(m, "properties.securityProfile.secureVMDiskEncryptionSetId", desID)
		}
	}
	const des = "/subscriptions/{subscriptionId}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/diskEncryptionSets/{diskEncryptionSetName}"
	tests := []struct {
		name          string
		edit          func(map[string]any)
		wantViolation bool
		wantMessage   string
	}{
		{"spec example: customer key through the confidential set", noEdit, false,
			"Managed disk myDisk is encrypted with a customer-managed key (confidential VM disk encryption set {diskEncryptionSetName})."},
		{"a set without a securityType", profile(dropField, des), false,
			"Managed disk myDisk is encrypted with a customer-managed key (confidential VM disk encryption set {diskEncryptionSetName})."},
		{"platform key beside the confidential set: the confidential layer is customer-keyed", func(m map[string]any) {
			set(m, "properties.encryption.type", "EncryptionAtRestWithPlatformKey")
		}, false, "Managed disk myDisk is encrypted with a customer-managed key (confidential VM disk encryption set {diskEncryptionSetName})."},
		{"confidential disk under a platform key: the type decides", profile("ConfidentialVM_DiskEncryptedWithPlatformKey", des), true,
			"Managed disk myDisk is encrypted at rest with platform-managed keys, not a customer-managed key from a disk encryption set."},
		{"trusted launch, no set (spec Disk_Create_WithSecurityProfile)", profile("TrustedLaunch", dropField), true,
			"Managed disk myDisk is encrypted at rest with platform-managed keys, not a customer-managed key from a disk encryption set."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := one(t, judge(t, DiskCMK{}, polUS, fixture(t, "disk_confidential_cmk.json", tt.edit)))
			if v.Violation != tt.wantViolation || v.Message != tt.wantMessage {
				t.Errorf("verdict violation=%v %q\nwant violation=%v %q", v.Violation, v.Message, tt.wantViolation, tt.wantMessage)
			}
			if v.Evidence["secureVMDiskEncryptionSetId"] == nil || v.Evidence["securityType"] == nil {
				t.Errorf("evidence %v lacks the security profile", v.Evidence)
			}
		})
	}
}
