package rules

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// StorageCMK is encryption.cmk for storage accounts: the account must encrypt
// with a customer-managed key in Key Vault, properties.encryption.keySource
// Microsoft.Keyvault (compared case-insensitively: ARM writes both
// Microsoft.Keyvault and Microsoft.KeyVault, research §4.1, S11/S12).
//
// Storage Service Encryption is always on, so a body whose properties say
// nothing of the key source is encrypted with Microsoft-managed keys. When the
// account used a Key Vault key before (the previous state), the action names
// that key so it can be restored.
type StorageCMK struct{}

func (StorageCMK) ID() string { return guard.RuleEncryptionCMK }

func (StorageCMK) Applies(t string) bool { return isType(t, TypeStorageAccount) }

// nameAndProperties is a resource body's name and its properties, kept raw for a
// rule to read what it needs of them (the storage and TLS rules).
type nameAndProperties struct {
	Name       string          `json:"name"`
	Properties json.RawMessage `json:"properties"`
}

type storageKeyVaultProps struct {
	KeySource          string `json:"keySource"`
	KeyVaultProperties struct {
		KeyName                       string `json:"keyname"`
		KeyVersion                    string `json:"keyversion"`
		KeyVaultURI                   string `json:"keyvaulturi"`
		CurrentVersionedKeyIdentifier string `json:"currentVersionedKeyIdentifier"`
	} `json:"keyvaultproperties"`
}

// storageKeyFacts reads a storage account body's encryption settings; ok is false
// when the body has no properties to judge.
func storageKeyFacts(body []byte) (name string, enc storageKeyVaultProps, ok bool) {
	var a nameAndProperties
	if !decode(body, &a) || !hasObject(a.Properties) {
		return "", enc, false
	}
	var p storageCMKProps
	_ = fastjson.Unmarshal(a.Properties, &p) // a field of another shape reads as absent
	return a.Name, p.Encryption, true
}

func (enc storageKeyVaultProps) customerManaged() bool {
	return strings.EqualFold(strings.TrimSpace(enc.KeySource), "Microsoft.Keyvault")
}

func (StorageCMK) Evaluate(in guard.Input) []guard.Verdict {
	name, enc, ok := storageKeyFacts(in.Resource.Body)
	if !ok {
		return nil
	}
	id := in.Resource.ID
	name = firstNonEmpty(name, nameOf(id))
	kv := enc.KeyVaultProperties
	source := strings.TrimSpace(enc.KeySource)
	evidence := map[string]any{"keySource": firstNonEmpty(source, "(absent: Microsoft-managed keys)")}
	if enc.customerManaged() {
		evidence["keyName"], evidence["keyVaultUri"] = kv.KeyName, kv.KeyVaultURI
		evidence["currentVersionedKeyIdentifier"] = kv.CurrentVersionedKeyIdentifier
		return []guard.Verdict{{Rule: guard.RuleEncryptionCMK, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Storage account %s encrypts its data with customer-managed key %s from %s.", name, firstNonEmpty(kv.KeyName, "(unnamed)"), firstNonEmpty(kv.KeyVaultURI, "Key Vault"))}}
	}
	msg := fmt.Sprintf("Storage account %s encrypts its data with Microsoft-managed keys (keySource %s), not a customer-managed key in Key Vault.", name, firstNonEmpty(source, "absent"))
	action := "set properties.encryption.keySource to Microsoft.Keyvault and properties.encryption.keyvaultproperties to a Key Vault key (keyname, keyvaulturi)"
	if in.Previous != nil && !in.Previous.Deleted {
		if _, prev, ok := storageKeyFacts(in.Previous.Body); ok && prev.customerManaged() && prev.KeyVaultProperties.KeyName != "" {
			pk := prev.KeyVaultProperties
			evidence["previousKey"] = map[string]any{"keyName": pk.KeyName, "keyVaultUri": pk.KeyVaultURI, "keyVersion": pk.KeyVersion,
				"currentVersionedKeyIdentifier": pk.CurrentVersionedKeyIdentifier, "observedAt": in.Previous.ObservedAt}
			msg = fmt.Sprintf("Storage account %s switched from customer-managed key %s to Microsoft-managed keys (keySource %s).", name, pk.KeyName, firstNonEmpty(source, "absent"))
			action = fmt.Sprintf("set properties.encryption.keySource back to Microsoft.Keyvault with keyvaultproperties keyname %s and keyvaulturi %s (the key it had)", pk.KeyName, pk.KeyVaultURI)
		}
	}
	return []guard.Verdict{{Rule: guard.RuleEncryptionCMK, ResourceID: id, Violation: true, Evidence: evidence, Message: msg, Action: action}}
}

// SQLTDE is encryption.cmk for SQL servers: the TDE protector
// (…/servers/{s}/encryptionProtector/current, research §4.3, S14) must be a Key
// Vault key (serverKeyType AzureKeyVault), not ServiceManaged. The protector is
// a child settings resource, so the verdict is the server's (DESIGN 3.3), with
// the protector's grant ID.
//
// The rule judges the protector when a change names it, and, as a Gatherer,
// reads the protector when a change (or the sweep) names the server: a new
// server is ServiceManaged until someone sets a key, and no protector event may
// ever come.
type SQLTDE struct{}

func (SQLTDE) ID() string { return guard.RuleEncryptionCMK }

func (SQLTDE) Applies(t string) bool {
	return isType(t, TypeSQLEncryptionProtector) || isType(t, TypeSQLServer)
}

func protectorOf(server string) string {
	return strings.TrimRight(server, "/") + "/encryptionProtector/current"
}

// Related asks for a server's TDE protector.
func (SQLTDE) Related(res *guard.Resource, have map[string]*guard.Resource) []string {
	if !isType(res.Type, TypeSQLServer) {
		return nil
	}
	return []string{protectorOf(res.ID)}
}

type sqlProtector struct {
	Kind       string `json:"kind"`
	Properties *struct {
		ServerKeyName       string   `json:"serverKeyName"`
		ServerKeyType       string   `json:"serverKeyType"`
		URI                 string   `json:"uri"`
		AutoRotationEnabled flexBool `json:"autoRotationEnabled"`
	} `json:"properties"`
}

func (SQLTDE) Evaluate(in guard.Input) []guard.Verdict {
	prot, prev := in.Resource, in.Previous
	if isType(in.Resource.Type, TypeSQLServer) {
		prot, prev = in.RelatedResource(protectorOf(in.Resource.ID)), nil
	}
	if prot == nil || prot.Deleted {
		return nil
	}
	var p sqlProtector
	server := guard.ParentOf(prot.ID)
	if !decode(prot.Body, &p) || p.Properties == nil || server == "" {
		return nil
	}
	keyType := strings.TrimSpace(p.Properties.ServerKeyType)
	evidence := map[string]any{"encryptionProtector": prot.ID, "serverKeyType": keyType, "serverKeyName": p.Properties.ServerKeyName}
	if p.Properties.URI != "" {
		evidence["keyUri"] = p.Properties.URI
	}
	v := guard.Verdict{Rule: guard.RuleEncryptionCMK, ResourceID: server, GrantID: guard.ChildVerdictGrant(prot.ID), Evidence: evidence}
	sname := nameOf(server)
	if strings.EqualFold(keyType, "AzureKeyVault") {
		v.Message = fmt.Sprintf("SQL server %s protects TDE with customer-managed Key Vault key %s.", sname, firstNonEmpty(p.Properties.URI, p.Properties.ServerKeyName))
		return []guard.Verdict{v}
	}
	v.Violation = true
	v.Message = fmt.Sprintf("SQL server %s protects TDE with a %s key, not a customer-managed key in Key Vault.", sname, describeKeyType(keyType))
	v.Action = "set the TDE protector (encryptionProtector/current) to serverKeyType AzureKeyVault with a Key Vault key added to the server"
	if prev != nil && !prev.Deleted {
		var pp sqlProtector
		if decode(prev.Body, &pp) && pp.Properties != nil && strings.EqualFold(pp.Properties.ServerKeyType, "AzureKeyVault") {
			evidence["previousKey"] = map[string]any{"serverKeyName": pp.Properties.ServerKeyName, "keyUri": pp.Properties.URI, "observedAt": prev.ObservedAt}
			v.Message = fmt.Sprintf("SQL server %s switched its TDE protector from Key Vault key %s to a %s key.", sname, firstNonEmpty(pp.Properties.URI, pp.Properties.ServerKeyName), describeKeyType(keyType))
			v.Action = fmt.Sprintf("set the TDE protector (encryptionProtector/current) back to serverKeyType AzureKeyVault with serverKeyName %s (the key it had)", pp.Properties.ServerKeyName)
		}
	}
	return []guard.Verdict{v}
}

func describeKeyType(t string) string {
	switch {
	case strings.EqualFold(t, "ServiceManaged"):
		return "service-managed"
	case t == "":
		return "unspecified"
	}
	return t
}

// DiskCMK is encryption.cmk for managed disks (research §4.4, S15): the disk
// must be encrypted at rest with a customer key through a disk encryption set
// (encryption.type EncryptionAtRestWithCustomerKey or
// EncryptionAtRestWithPlatformAndCustomerKeys). The type, when written, decides:
// EncryptionAtRestWithPlatformKey is a violation even beside a
// diskEncryptionSetId. Without a type (the spec's DES example omits it) the
// disk is customer-keyed exactly when it names a disk encryption set. Azure Disk
// Encryption (encryptionSettingsCollection) is guest-level encryption, not the
// at-rest key, so it is reported as a fact and does not satisfy the rule.
//
// A confidential VM's disk names its set in
// securityProfile.secureVMDiskEncryptionSetId instead ("ResourceId of the disk
// encryption set associated to Confidential VM supported disk encrypted with
// customer managed key", DiskSecurityProfile in the DiskRP spec), and the
// spec's example of one has no encryption object at all
// (Disk_Create_ConfidentialVMSupportedDiskEncryptedWithCMK.json). That set is
// judged as diskEncryptionSetId is: securityProfile.securityType, when written,
// decides (ConfidentialVM_DiskEncryptedWithCustomerKey is customer-keyed, the
// …WithPlatformKey types are not); without it, naming the set is enough.
type DiskCMK struct{}

func (DiskCMK) ID() string { return guard.RuleEncryptionCMK }

func (DiskCMK) Applies(t string) bool { return isType(t, TypeDisk) }

type diskEncryption struct {
	Name       string `json:"name"`
	Properties *struct {
		Encryption struct {
			Type                string `json:"type"`
			DiskEncryptionSetID string `json:"diskEncryptionSetId"`
		} `json:"encryption"`
		EncryptionSettingsCollection struct {
			Enabled flexBool `json:"enabled"`
		} `json:"encryptionSettingsCollection"`
		SecurityProfile struct {
			SecurityType                string `json:"securityType"`
			SecureVMDiskEncryptionSetID string `json:"secureVMDiskEncryptionSetId"`
		} `json:"securityProfile"`
	} `json:"properties"`
}

// confidentialSet is the disk encryption set a confidential VM's disk is
// encrypted with under a customer key, or "".
func (d *diskEncryption) confidentialSet() string {
	sp := d.Properties.SecurityProfile
	set, typ := strings.TrimSpace(sp.SecureVMDiskEncryptionSetID), strings.TrimSpace(sp.SecurityType)
	if set == "" || (typ != "" && !strings.Contains(strings.ToLower(typ), "customerkey")) {
		return ""
	}
	return set
}

func (DiskCMK) Evaluate(in guard.Input) []guard.Verdict {
	var d diskEncryption
	if !decode(in.Resource.Body, &d) || d.Properties == nil {
		return nil
	}
	id := in.Resource.ID
	name := firstNonEmpty(d.Name, nameOf(id))
	enc := d.Properties.Encryption
	typ, des := strings.TrimSpace(enc.Type), strings.TrimSpace(enc.DiskEncryptionSetID)
	evidence := map[string]any{"encryptionType": firstNonEmpty(typ, "(absent)"), "diskEncryptionSetId": des}
	if d.Properties.EncryptionSettingsCollection.Enabled.Set {
		evidence["azureDiskEncryption"] = d.Properties.EncryptionSettingsCollection.Enabled.Value
	}
	if sp := d.Properties.SecurityProfile; sp.SecureVMDiskEncryptionSetID != "" || sp.SecurityType != "" {
		evidence["securityType"], evidence["secureVMDiskEncryptionSetId"] = sp.SecurityType, sp.SecureVMDiskEncryptionSetID
	}
	if set := d.confidentialSet(); set != "" {
		return []guard.Verdict{{Rule: guard.RuleEncryptionCMK, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Managed disk %s is encrypted with a customer-managed key (confidential VM disk encryption set %s).", name, nameOf(set))}}
	}
	customer := strings.Contains(strings.ToLower(typ), "customerkey") || (typ == "" && des != "")
	if customer {
		return []guard.Verdict{{Rule: guard.RuleEncryptionCMK, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Managed disk %s is encrypted at rest with a customer-managed key (disk encryption set %s).", name, firstNonEmpty(nameOf(des), "(unnamed)"))}}
	}
	how := "platform-managed keys"
	if typ != "" && !strings.EqualFold(typ, "EncryptionAtRestWithPlatformKey") {
		how = "encryption type " + typ
	}
	msg := fmt.Sprintf("Managed disk %s is encrypted at rest with %s, not a customer-managed key from a disk encryption set.", name, how)
	action := "set properties.encryption.type to EncryptionAtRestWithCustomerKey and properties.encryption.diskEncryptionSetId to a disk encryption set with a Key Vault key (detach the disk or deallocate its VM first)"
	if in.Previous != nil && !in.Previous.Deleted {
		var pd diskEncryption
		if decode(in.Previous.Body, &pd) && pd.Properties != nil && pd.Properties.Encryption.DiskEncryptionSetID != "" {
			prevDES := pd.Properties.Encryption.DiskEncryptionSetID
			evidence["previousDiskEncryptionSetId"] = prevDES
			msg = fmt.Sprintf("Managed disk %s switched from disk encryption set %s to %s.", name, nameOf(prevDES), how)
			action = fmt.Sprintf("set properties.encryption.type back to %s and properties.encryption.diskEncryptionSetId to %s (the set it had)",
				firstNonEmpty(pd.Properties.Encryption.Type, "EncryptionAtRestWithCustomerKey"), prevDES)
		}
	}
	return []guard.Verdict{{Rule: guard.RuleEncryptionCMK, ResourceID: id, Violation: true, Evidence: evidence, Message: msg, Action: action}}
}

// storageCMKProps is what storageKeyFacts reads of a storage account's properties.
type storageCMKProps struct {
	Encryption storageKeyVaultProps `json:"encryption"`
}
