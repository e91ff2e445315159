package rules

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/google/go-cmp/cmp"
)

const (
	sampleKeyID  = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/sample-group/providers/Microsoft.KeyVault/vaults/sample-vault-name/keys/sample-key-name"
	sampleKeyURI = "https://sample-vault-name.vault.azure.net/keys/sample-key-name"
	sampleV1     = "fd618d9519b74f9aae94ade66b876acc" // the spec's version
	sampleV2     = "0b5a8c1d2e3f40718293a4b5c6d7e8f9"
)

// keyARM is the spec's ARM GET of the key, its attributes edited.
func keyARM(t *testing.T, version string, attrs map[string]any) *guard.Resource {
	t.Helper()
	return resource(t, fixture(t, "keyvault_key_get.json", func(m map[string]any) {
		set(m, "properties.keyUriWithVersion", "https://sample-vault-name.vault.azure.net:443/keys/sample-key-name/"+version)
		a := m["properties"].(map[string]any)["attributes"].(map[string]any)
		for k, v := range attrs {
			if v == dropField {
				delete(a, k)
			} else {
				a[k] = v
			}
		}
	}))
}

// keyEvent is the key state the eventgrid decoder builds from a Key Vault event.
func keyEvent(t *testing.T, typ, version string, attrs map[string]any) *guard.Resource {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": sampleKeyID, "name": "sample-key-name", "type": TypeKeyVaultKey,
		"properties": map[string]any{"keyUri": sampleKeyURI, "keyUriWithVersion": sampleKeyURI + "/" + version, "attributes": attrs},
		"fromEvent":  map[string]any{"type": typ, "id": "ev", "time": testNow.Format(time.RFC3339)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return resource(t, body)
}

// Dependents of the sample key, as the pipeline would pass them.
func storageUsing(t *testing.T, version, pinned string) *guard.Resource {
	return resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
		set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", sampleKeyURI+"/"+version)
		set(m, "properties.encryption.keyvaultproperties.keyname", "sample-key-name")
		set(m, "properties.encryption.keyvaultproperties.keyvaulturi", "https://sample-vault-name.vault.azure.net")
		set(m, "properties.encryption.keyvaultproperties.keyversion", pinned)
	})))
}

func protectorUsing(t *testing.T, version string, autoRotate bool) *guard.Resource {
	return resource(t, fixture(t, "sql_encryption_protector_get.json", func(m map[string]any) {
		set(m, "properties.uri", "https://SAMPLE-vault-name.vault.azure.net/keys/Sample-Key-Name/"+version) // casing as a person typed it
		set(m, "properties.autoRotationEnabled", autoRotate)
	}))
}

func desUsing(t *testing.T, keyURL string) *guard.Resource {
	return resource(t, fixture(t, "disk_encryption_set_get.json", func(m map[string]any) { set(m, "properties.activeKey.keyUrl", keyURL) }))
}

func cosmosUsing(t *testing.T) *guard.Resource {
	return resource(t, fixture(t, "cosmos_account_get.json", func(m map[string]any) { set(m, "properties.keyVaultKeyUri", sampleKeyURI) }))
}

const (
	storageID = "/subscriptions/{subscription-id}/resourceGroups/res9407/providers/Microsoft.Storage/storageAccounts/sto8596"
	sqlServer = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/sqlcrudtest-7398/providers/Microsoft.Sql/servers/sqlcrudtest-4645"
	desID     = "/subscriptions/{subscriptionId}/resourceGroups/myResourceGroup/providers/Microsoft.Compute/diskEncryptionSets/myDiskEncryptionSet"
	cosmosID  = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.DocumentDB/databaseAccounts/ddb1"
)

func TestKeyVaultKeyReferences(t *testing.T) {
	got := KeyVaultKey{}.References(resource(t, fixture(t, "keyvault_key_get.json", noEdit)))
	want := []string{sampleKeyURI, "https://sample-vault-name.vault.azure.net:443/keys/sample-key-name"}
	if !cmp.Equal(got, want) {
		t.Errorf("References = %v, want %v", got, want)
	}
	// Every dependent's body contains a reference, case-insensitively, as the
	// pipeline looks for it.
	for _, d := range []*guard.Resource{storageUsing(t, sampleV1, ""), protectorUsing(t, sampleV1, false), desUsing(t, sampleKeyURI+"/"+sampleV1), cosmosUsing(t)} {
		if !strings.Contains(strings.ToLower(string(d.Body)), got[0]) {
			t.Errorf("%s does not mention %s", d.ID, got[0])
		}
	}
	if r := (KeyVaultKey{}).References(&guard.Resource{ID: sampleKeyID, Body: []byte(`{"properties":{}}`)}); r != nil {
		t.Errorf("References(no URI) = %v, want nil", r)
	}
}

func TestKeyVaultKey(t *testing.T) {
	day := int64(24 * 3600)
	now := testNow.Unix()
	deps := func(t *testing.T) []*guard.Resource {
		return []*guard.Resource{storageUsing(t, sampleV1, ""), protectorUsing(t, sampleV1, false), desUsing(t, sampleKeyURI+"/"+sampleV1), cosmosUsing(t)}
	}
	tests := []struct {
		name          string
		key           func(t *testing.T) *guard.Resource
		wantViolation bool
		wantWarning   bool
		wantIn        string
	}{
		{"spec key: enabled, no expiry", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, nil) }, false, false, "is enabled and unexpired"},
		{"disabled", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"enabled": false}) }, true, false, "which is disabled"},
		{"expired by exp", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"exp": now - 60}) }, true, false, "which expired on 2026-11-02T08:59:00Z"},
		{"exp exactly now", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"exp": now}) }, true, false, "which expired on"},
		{"expires in 12 days", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"exp": now + 12*day}) }, true, true, "which expires in 12 days (2026-11-14T09:00:00Z)"},
		{"expires in 45 days", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"exp": now + 45*day}) }, false, false, "is enabled and unexpired"},
		{"not valid yet", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"nbf": now + day}) }, true, false, "not valid before 2026-11-03T09:00:00Z"},
		{"1/0 booleans", func(t *testing.T) *guard.Resource { return keyARM(t, sampleV1, map[string]any{"enabled": 0}) }, true, false, "which is disabled"},
		{"event: near expiry", func(t *testing.T) *guard.Resource {
			return keyEvent(t, "Microsoft.KeyVault.KeyNearExpiry", sampleV1, map[string]any{"exp": now + 30*day, "nearExpiry": true})
		}, true, true, "which expires in 30 days"},
		{"event: near expiry said a little early", func(t *testing.T) *guard.Resource {
			return keyEvent(t, "Microsoft.KeyVault.KeyNearExpiry", sampleV1, map[string]any{"exp": now + 30*day + 90, "nearExpiry": true})
		}, true, true, "which expires in 31 days"},
		{"event: near expiry without EXP", func(t *testing.T) *guard.Resource {
			return keyEvent(t, "Microsoft.KeyVault.KeyNearExpiry", sampleV1, map[string]any{"nearExpiry": true})
		}, true, true, "which Key Vault reports as near expiry"},
		{"event: expired", func(t *testing.T) *guard.Resource {
			return keyEvent(t, "Microsoft.KeyVault.KeyExpired", sampleV1, map[string]any{"exp": now - 30, "expired": true})
		}, true, false, "which expired on"},
		{"event: expired without EXP", func(t *testing.T) *guard.Resource {
			return keyEvent(t, "Microsoft.KeyVault.KeyExpired", sampleV1, map[string]any{"expired": true})
		}, true, false, "which expired."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := tt.key(t)
			vs := judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: key, Dependents: deps(t), Now: testNow})
			targets := map[string]string{storageID: "Storage account sto8596 uses", sqlServer: "SQL server sqlcrudtest-4645 (TDE protector) uses",
				desID: "Disk encryption set myDiskEncryptionSet uses", cosmosID: "Cosmos DB account ddb1 uses"}
			if len(vs) != len(targets) {
				t.Fatalf("got %d verdicts, want one per dependent: %+v", len(vs), vs)
			}
			for _, v := range vs {
				if v.GrantID != guard.IDKey(sampleKeyID) {
					t.Errorf("grant %q, want the key's ID key", v.GrantID)
				}
				who, ok := targets[v.ResourceID]
				if !ok {
					t.Errorf("verdict on %s, not a dependent", v.ResourceID)
					continue
				}
				delete(targets, v.ResourceID)
				if !strings.HasPrefix(v.Message, who+" Key Vault key sample-key-name (vault sample-vault-name)") || !strings.Contains(v.Message, tt.wantIn) {
					t.Errorf("message %q, want %q … %q", v.Message, who, tt.wantIn)
				}
				if v.Violation != tt.wantViolation || (v.Evidence["warning"] == true) != tt.wantWarning {
					t.Errorf("verdict on %s: violation %v warning %v, want %v %v", v.ResourceID, v.Violation, v.Evidence["warning"], tt.wantViolation, tt.wantWarning)
				}
				if v.Evidence["keyId"] != sampleKeyID || v.Evidence["keyUri"] != sampleKeyURI {
					t.Errorf("evidence %v", v.Evidence)
				}
			}
		})
	}
}

func TestKeyVaultKeyWarningEvidence(t *testing.T) {
	key := keyEvent(t, "Microsoft.KeyVault.KeyNearExpiry", sampleV1, map[string]any{"exp": testNow.Add(12*24*time.Hour + time.Hour).Unix(), "nearExpiry": true})
	v := one(t, judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: key, Dependents: []*guard.Resource{storageUsing(t, sampleV1, "")}, Now: testNow}))
	if v.Evidence["warning"] != true || v.Evidence["expiresInDays"] != 13 || v.Evidence["keyStateFrom"] != "Microsoft.KeyVault.KeyNearExpiry" {
		t.Errorf("evidence %v", v.Evidence)
	}
	if v.Action != "before 2026-11-14T10:00:00Z, create a new version of key sample-key-name in vault sample-vault-name" {
		t.Errorf("Action = %q", v.Action)
	}
}

// A new key version resolves the users that follow the latest version; one that
// pins the old version is judged by what was known of the old version.
func TestKeyVaultKeyNewVersion(t *testing.T) {
	expiredV1 := keyEvent(t, "Microsoft.KeyVault.KeyExpired", sampleV1, map[string]any{"exp": testNow.Add(-time.Hour).Unix(), "expired": true})
	newV2 := keyEvent(t, "Microsoft.KeyVault.KeyNewVersionCreated", sampleV2, map[string]any{"exp": testNow.Add(365 * 24 * time.Hour).Unix()})
	deps := []*guard.Resource{
		storageUsing(t, sampleV1, ""),        // follows the latest version
		protectorUsing(t, sampleV1, false),   // pins v1
		desUsing(t, sampleKeyURI+"/oldoldv"), // pins a version nothing describes
	}
	vs := judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: newV2, Previous: expiredV1, Dependents: deps, Now: testNow})
	got := map[string]bool{}
	for _, v := range vs {
		got[v.ResourceID] = v.Violation
	}
	if want := map[string]bool{storageID: false, sqlServer: true}; !cmp.Equal(got, want) {
		t.Errorf("verdicts (resource: violation) = %v, want %v", got, want)
	}
	for _, v := range vs {
		if v.ResourceID == sqlServer && !strings.Contains(v.Action, "and set the TDE protector (encryptionProtector/current) of sqlcrudtest-4645 to it") {
			t.Errorf("pinned user's action %q does not say to move it to the new version", v.Action)
		}
	}
}

// An event says nothing of "enabled": the earlier ARM state of the same version
// does; an ARM state is whole and is never filled in from an event's.
func TestKeyVaultKeyStateMerge(t *testing.T) {
	dep := []*guard.Resource{storageUsing(t, sampleV1, "")}
	disabledARM := keyARM(t, sampleV1, map[string]any{"enabled": false})
	near := keyEvent(t, "Microsoft.KeyVault.KeyNearExpiry", sampleV1, map[string]any{"exp": testNow.Add(20 * 24 * time.Hour).Unix(), "nearExpiry": true})
	v := one(t, judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: near, Previous: disabledARM, Dependents: dep, Now: testNow}))
	if !v.Violation || !strings.Contains(v.Message, "disabled") {
		t.Errorf("near-expiry event after a disabled ARM state: %q, want disabled", v.Message)
	}
	// The expiry was removed: ARM has no exp, the event before had one.
	v = one(t, judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: keyARM(t, sampleV1, nil), Previous: near, Dependents: dep, Now: testNow}))
	if v.Violation {
		t.Errorf("ARM state without exp after a near-expiry event: %q, want compliant", v.Message)
	}
	// Another version's state is not merged.
	v = one(t, judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: keyEvent(t, "Microsoft.KeyVault.KeyNewVersionCreated", sampleV2, map[string]any{}),
		Previous: disabledARM, Dependents: dep, Now: testNow}))
	if v.Violation || v.Evidence["enabled"] != "unknown (not disabled as far as known)" {
		t.Errorf("new version after a disabled one: %+v, want compliant with enabled unknown", v)
	}
}

func TestKeyVaultKeyNotADependent(t *testing.T) {
	key := keyARM(t, sampleV1, map[string]any{"enabled": false})
	deps := []*guard.Resource{
		// mentions the key's URI as a prefix of another key's
		resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
			set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", sampleKeyURI+"-2/"+sampleV1)
		}))),
		// Microsoft-managed keys with stale keyvaultproperties
		resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
			set(m, "properties.encryption.keySource", "Microsoft.Storage")
			set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", sampleKeyURI+"/"+sampleV1)
		}))),
		// a TDE protector back on a service-managed key
		resource(t, fixture(t, "sql_encryption_protector_service_managed.json", func(m map[string]any) { set(m, "properties.uri", sampleKeyURI) })),
		// same key name in another vault
		desUsing(t, "https://other-vault.vault.azure.net/keys/sample-key-name/"+sampleV1),
		// a resource type that uses no CMK, mentioning the key in a tag
		resource(t, fixture(t, "disk_get.json", func(m map[string]any) { set(m, "tags.key", sampleKeyURI) })),
	}
	if vs := judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: key, Dependents: deps, Now: testNow}); len(vs) != 0 {
		t.Errorf("got %+v, want no verdict", vs)
	}
	if vs := judgeIn(t, KeyVaultKey{}, guard.Input{Policy: polUS, Resource: key, Now: testNow}); len(vs) != 0 {
		t.Errorf("no dependents: got %+v", vs)
	}
	gone := &guard.Resource{ID: sampleKeyID, Type: TypeKeyVaultKey, Deleted: true}
	if vs := (KeyVaultKey{}).Evaluate(guard.Input{Policy: polUS, Resource: gone, Dependents: []*guard.Resource{storageUsing(t, sampleV1, "")}, Now: testNow}); len(vs) != 0 {
		t.Errorf("deleted key: got %+v", vs)
	}
}

func TestParseKeyURI(t *testing.T) {
	tests := []struct {
		in                  string
		ok                  bool
		uri, version, vault string
	}{
		{"https://myvault8569.vault.azure.net/keys/wrappingKey/0682afdd9c104f4285df20107e956cad", true, "https://myvault8569.vault.azure.net/keys/wrappingkey", "0682afdd9c104f4285df20107e956cad", "myvault8569"},
		{"https://sample-vault-name.vault.azure.net:443/keys/sample-key-name", true, "https://sample-vault-name.vault.azure.net/keys/sample-key-name", "", "sample-vault-name"},
		{"https://kv-itar.vault.usgovcloudapi.net/keys/cmk/ABC/", true, "https://kv-itar.vault.usgovcloudapi.net/keys/cmk", "abc", "kv-itar"},
		{"https://myKeyVault.vault.azure.net", false, "", "", ""}, // a vault, not a key (Cosmos spec example)
		{"https://v.vault.azure.net/secrets/s/1", false, "", "", ""},
		{"http://v.vault.azure.net/keys/k/1", false, "", "", ""},
		{"https://v.vault.azure.net/keys/k/1/2", false, "", "", ""},
		{"", false, "", "", ""},
	}
	for _, tt := range tests {
		r, ok := parseKeyURI(tt.in)
		if ok != tt.ok || r.uri != tt.uri || r.version != tt.version || r.vault != tt.vault {
			t.Errorf("parseKeyURI(%q) = %+v, %v", tt.in, r, ok)
		}
	}
}

// A resource that stops using a key has that key's finding resolved when it
// is judged: Refers names the key it left, and Evaluate, given the key's last
// known state, says it no longer uses it.
func TestKeyVaultKeyUseResolvesAKeyNoLongerUsed(t *testing.T) {
	const otherURI = "https://other-vault.vault.azure.net/keys/other-key"
	storageOn := func(t *testing.T, uri string) *guard.Resource {
		return resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
			set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", uri+"/"+sampleV1)
		})))
	}
	storageMMK := resource(t, fixture(t, "storage_account_get.json", noEdit))
	// An account naming its key by vault and name only: no key URI in its body.
	storageByName := resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
		set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", "")
		set(m, "properties.encryption.keyvaultproperties.keyname", "sample-key-name")
		set(m, "properties.encryption.keyvaultproperties.keyvaulturi", "https://sample-vault-name.vault.azure.net")
	})))
	protectorOn := func(t *testing.T, uri string) *guard.Resource {
		return resource(t, fixture(t, "sql_encryption_protector_get.json", func(m map[string]any) { set(m, "properties.uri", uri+"/"+sampleV1) }))
	}
	disabled := keyARM(t, sampleV1, map[string]any{"enabled": false})
	tests := []struct {
		name       string
		prev, cur  *guard.Resource
		wantRefers []string
		wantOn     string // the resource the verdict is on, "" for none
		wantWho    string
	}{
		{"storage account moved to another key", storageUsing(t, sampleV1, ""), storageOn(t, otherURI), []string{otherURI, sampleKeyURI}, storageID, "Storage account sto8596"},
		{"storage account moved to Microsoft-managed keys", storageUsing(t, sampleV1, ""), storageMMK, []string{sampleKeyURI}, storageID, "Storage account sto8596"},
		{"storage account naming its key by name moved to another", storageByName, storageOn(t, otherURI), []string{otherURI, sampleKeyURI}, storageID, "Storage account sto8596"},
		{"TDE protector moved to another key: on the server", protectorUsing(t, sampleV1, false), protectorOn(t, otherURI), []string{otherURI, sampleKeyURI}, sqlServer, "SQL server sqlcrudtest-4645 (TDE protector)"},
		{"same key, another version it follows", storageUsing(t, sampleV1, ""), storageUsing(t, sampleV2, ""), nil, "", ""},
		{"same key written in other casing", protectorUsing(t, sampleV1, false), protectorOn(t, strings.ToUpper(sampleKeyURI[:8])+sampleKeyURI[8:]), nil, "", ""},
		{"never seen before", nil, storageMMK, nil, "", ""},
		{"deleted", storageUsing(t, sampleV1, ""), &guard.Resource{ID: storageID, Type: TypeStorageAccount, Deleted: true}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := guard.Input{Policy: polUS, Resource: tt.cur, Previous: tt.prev, Now: testNow}
			if got := (KeyVaultKeyUse{}).Refers(in); !cmp.Equal(got, tt.wantRefers) {
				t.Fatalf("Refers = %v, want %v", got, tt.wantRefers)
			}
			if tt.wantOn == "" {
				return
			}
			// What the pipeline finds for those URIs: the old key's state, and
			// a resource that is no key.
			in.Dependents = []*guard.Resource{disabled, storageMMK}
			vs := KeyVaultKeyUse{}.Evaluate(in)
			if len(vs) != 1 {
				t.Fatalf("Evaluate = %+v, want one verdict about the key no longer used", vs)
			}
			v := vs[0]
			if v.Violation || v.ResourceID != tt.wantOn || v.GrantID != guard.IDKey(sampleKeyID) ||
				v.Message != tt.wantWho+" no longer uses Key Vault key sample-key-name (vault sample-vault-name)." || v.Evidence["noLongerUsed"] != true {
				t.Errorf("verdict %+v, want a compliant verdict on %s's finding about the key", v, tt.wantOn)
			}
		})
	}
}

func TestMentionsKeys(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"uri":"https://kv.vault.azure.net/keys/k/v"}`, true},
		{`{"uri":"https://kv.vault.azure.net/KEYS/k"}`, true},
		{`{"uri":"https:\/\/kv.vault.azure.net\/keys\/k"}`, true},
		{`{"keyName":"k","keyVaultUri":"https://kv.vault.azure.net/"}`, true},
		{`{"KEYNAME":"k","KEYVAULTURI":"https://kv.vault.azure.net/"}`, true},
		{`{"id":"/subscriptions/s/resourceGroups/g"}`, false},
		{`/`, false},
		{``, false},
		{`keys/`, true},
	}
	for _, tt := range tests {
		if got := mentionsKeys([]byte(tt.body)); got != tt.want {
			t.Errorf("mentionsKeys(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

// A resource pointed at a key it did not use is judged against the key's last
// known state at once (guard.Referrer), not at the key's next change; Refers
// also names the keys it left (TestKeyVaultKeyUseResolvesAKeyNoLongerUsed).
func TestKeyVaultKeyUseJudgesAKeyNewlyUsed(t *testing.T) {
	const otherURI = "https://other-vault.vault.azure.net/keys/other-key"
	storageOn := func(t *testing.T, uri string) *guard.Resource {
		return resource(t, fixture(t, "storage_account_get.json", then(withCMK(t), func(m map[string]any) {
			set(m, "properties.encryption.keyvaultproperties.currentVersionedKeyIdentifier", uri+"/"+sampleV1)
		})))
	}
	refers := []struct {
		name      string
		prev, cur *guard.Resource
		want      []string
	}{
		{"moved onto the key (and off another)", storageOn(t, otherURI), storageUsing(t, sampleV1, ""), []string{sampleKeyURI, otherURI}},
		{"moved onto another key (and off the key)", storageUsing(t, sampleV1, ""), storageOn(t, otherURI), []string{otherURI, sampleKeyURI}},
		{"pinned to another version", storageUsing(t, sampleV1, sampleV1), storageUsing(t, sampleV2, sampleV2), []string{sampleKeyURI}},
		{"following the latest version, a new one", storageUsing(t, sampleV1, ""), storageUsing(t, sampleV2, ""), nil},
		{"moved off keys", storageUsing(t, sampleV1, ""), resource(t, fixture(t, "storage_account_get.json", noEdit)), []string{sampleKeyURI}},
		{"seen for the first time", nil, storageUsing(t, sampleV1, ""), nil},
		{"the same body", storageUsing(t, sampleV1, ""), storageUsing(t, sampleV1, ""), nil},
	}
	for _, tt := range refers {
		if got := (KeyVaultKeyUse{}).Refers(guard.Input{Resource: tt.cur, Previous: tt.prev}); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: Refers = %v, want %v", tt.name, got, tt.want)
		}
	}

	judge := func(res *guard.Resource, deps ...*guard.Resource) []guard.Verdict {
		return KeyVaultKeyUse{}.Evaluate(guard.Input{Policy: polUS, Resource: res, Dependents: deps, Now: testNow})
	}
	// What the pipeline finds for the key's URI: the key, and another user of it.
	vs := judge(storageUsing(t, sampleV1, ""), keyARM(t, sampleV1, map[string]any{"enabled": false}), protectorUsing(t, sampleV1, false))
	if len(vs) != 1 || !vs[0].Violation || vs[0].ResourceID != storageID || vs[0].GrantID != guard.IDKey(sampleKeyID) ||
		!strings.Contains(vs[0].Message, "Storage account sto8596 uses Key Vault key sample-key-name (vault sample-vault-name), which is disabled") {
		t.Errorf("onto a disabled key: %+v, want one violation on the account, the key as grant", vs)
	}
	if vs := judge(storageUsing(t, sampleV1, ""), keyARM(t, sampleV1, nil)); len(vs) != 1 || vs[0].Violation {
		t.Errorf("onto a healthy key: %+v, want one compliant verdict", vs)
	}
	if vs := judge(storageUsing(t, sampleV2, sampleV2), keyARM(t, sampleV1, map[string]any{"enabled": false})); len(vs) != 0 {
		t.Errorf("pinned to a version the known state does not describe: %+v, want none", vs)
	}
	if vs := judge(storageOn(t, otherURI), keyARM(t, sampleV1, map[string]any{"enabled": false})); len(vs) != 0 {
		t.Errorf("a key the resource does not use: %+v, want none", vs)
	}
}
