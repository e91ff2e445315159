package workload

import (
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/pkg/region"
)

// ARM GET bodies, shaped as ARM returns them (the storage body follows the
// recorded one in testdata/sessions/storage-replication.ndjson; the others the
// REST specs' GET examples), with the fields a rule reads set from the state.

func tags(s state) map[string]any {
	t := map[string]any{"dataClassification": "ITAR", "owner": "eng-platform", "costCenter": "CC-4411"}
	if s.tagRev > 0 {
		t["changeTicket"] = fmt.Sprintf("CHG-%d", 100000+s.tagRev)
	}
	return t
}

func rgID(r *Resource) string { return "/subscriptions/" + r.Sub + "/resourceGroups/" + r.RG }

func storageBody(r *Resource, s state) map[string]any {
	ep := func(suffix string) map[string]any {
		m := map[string]any{}
		for _, svc := range []string{"web", "dfs", "blob", "file", "queue", "table"} {
			m[svc] = "https://" + r.Name + suffix + "." + svc + ".core.windows.net/"
		}
		return m
	}
	enc := map[string]any{
		"services": map[string]any{
			"file": map[string]any{"keyType": "Account", "enabled": true, "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"},
			"blob": map[string]any{"keyType": "Account", "enabled": true, "lastEnabledTime": "2019-12-11T20:49:31.7036140Z"},
		},
		"keySource": s.keySource,
	}
	if s.keySource == "Microsoft.Keyvault" {
		enc["keyvaultproperties"] = map[string]any{
			"keyname": "cmk-" + r.Name, "keyversion": "7b3e5c2a9d1f4e6a8b0c2d4e6f8a0b1c",
			"keyvaulturi":                   "https://kv-" + r.RG + ".vault.azure.net/",
			"currentVersionedKeyIdentifier": "https://kv-" + r.RG + ".vault.azure.net/keys/cmk-" + r.Name + "/7b3e5c2a9d1f4e6a8b0c2d4e6f8a0b1c",
			"lastKeyRotationTimestamp":      "2026-09-01T10:00:00.0000000Z",
		}
	}
	props := map[string]any{
		"keyCreationTime":            map[string]any{"key1": "2021-03-18T04:42:22.4322836Z", "key2": "2021-03-18T04:42:22.4322836Z"},
		"isHnsEnabled":               true,
		"creationTime":               "2026-10-14T15:02:11.4410937Z",
		"networkAcls":                map[string]any{"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": []any{}, "virtualNetworkRules": []any{}, "resourceAccessRules": []any{}},
		"primaryEndpoints":           ep(""),
		"primaryLocation":            s.location,
		"provisioningState":          "Succeeded",
		"routingPreference":          map[string]any{"routingChoice": "MicrosoftRouting", "publishMicrosoftEndpoints": true, "publishInternetEndpoints": false},
		"encryption":                 enc,
		"statusOfPrimary":            "available",
		"supportsHttpsTrafficOnly":   !s.httpOnly,
		"isSkuConversionBlocked":     false,
		"accountMigrationInProgress": false,
		"allowBlobPublicAccess":      false,
		"allowSharedKeyAccess":       false,
	}
	if s.tls != "" {
		props["minimumTlsVersion"] = s.tls
	}
	if strings.Contains(s.sku, "GRS") || strings.Contains(s.sku, "GZRS") {
		props["secondaryLocation"] = region.Pair(s.location)
		props["statusOfSecondary"] = "available"
		if strings.Contains(s.sku, "RA") {
			props["secondaryEndpoints"] = ep("-secondary")
		}
	}
	tier := "Standard"
	return map[string]any{"id": r.ID, "kind": "StorageV2", "location": s.location, "name": r.Name,
		"properties": props, "sku": map[string]any{"name": s.sku, "tier": tier}, "tags": tags(s), "type": r.Type}
}

func diskBody(r *Resource, s state) map[string]any {
	enc := map[string]any{"type": s.diskEnc}
	if s.diskEnc == "EncryptionAtRestWithCustomerKey" {
		enc["diskEncryptionSetId"] = rgID(r) + "/providers/Microsoft.Compute/diskEncryptionSets/des-" + r.RG
	}
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"managedBy": rgID(r) + "/providers/Microsoft.Compute/virtualMachines/vm-" + strings.TrimPrefix(r.Name, "disk-"),
		"sku":       map[string]any{"name": "Premium_LRS", "tier": "Premium"}, "zones": []any{"1"},
		"properties": map[string]any{
			"hyperVGeneration": "V2", "creationData": map[string]any{"createOption": "Empty"},
			"diskSizeGB": 512, "diskIOPSReadWrite": 2300, "diskMBpsReadWrite": 150, "encryption": enc,
			"networkAccessPolicy": "DenyAll", "publicNetworkAccess": "Disabled", "timeCreated": "2026-10-01T12:03:44.1234567+00:00",
			"provisioningState": "Succeeded", "diskState": "Attached", "diskSizeBytes": 549755813888,
			"uniqueId": "3f9c2a1b-7d6e-4f5a-8b9c-0d1e2f3a4b5c", "tier": "P20",
		}}
}

func vmBody(r *Resource, s state) map[string]any {
	base := rgID(r) + "/providers/"
	short := strings.TrimPrefix(r.Name, "vm-")
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s), "zones": []any{"1"},
		"properties": map[string]any{
			"vmId":            "0f47b100-583c-48e3-a4c0-aefc2c9bbcc1",
			"hardwareProfile": map[string]any{"vmSize": "Standard_D4s_v5"},
			"storageProfile": map[string]any{
				"imageReference": map[string]any{"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2", "version": "latest", "exactVersion": "22.04.202610010"},
				"osDisk": map[string]any{"osType": "Linux", "name": "disk-" + short, "createOption": "FromImage", "caching": "ReadWrite",
					"managedDisk": map[string]any{"storageAccountType": "Premium_LRS", "id": base + "Microsoft.Compute/disks/disk-" + short}, "diskSizeGB": 64},
				"dataDisks": []any{},
			},
			"osProfile": map[string]any{"computerName": r.Name, "adminUsername": "azureuser",
				"linuxConfiguration": map[string]any{"disablePasswordAuthentication": true, "provisionVMAgent": true, "patchSettings": map[string]any{"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}},
				"secrets":            []any{}, "allowExtensionOperations": true, "requireGuestProvisionSignal": true},
			"networkProfile":     map[string]any{"networkInterfaces": []any{map[string]any{"id": base + "Microsoft.Network/networkInterfaces/nic-" + short, "properties": map[string]any{"primary": true}}}},
			"diagnosticsProfile": map[string]any{"bootDiagnostics": map[string]any{"enabled": true}},
			"provisioningState":  "Succeeded", "timeCreated": "2026-10-01T12:01:02.3456789+00:00",
		}}
}

func nicBody(r *Resource, s state) map[string]any {
	base := rgID(r) + "/providers/Microsoft.Network/"
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"etag": `W/"4b1f0c6e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"`,
		"properties": map[string]any{
			"provisioningState": "Succeeded", "resourceGuid": "6ef4d7c2-1a3b-4c5d-9e8f-7a6b5c4d3e2f",
			"ipConfigurations": []any{map[string]any{"name": "ipconfig1", "id": r.ID + "/ipConfigurations/ipconfig1",
				"properties": map[string]any{"privateIPAddress": "10.20.1.4", "privateIPAllocationMethod": "Dynamic", "primary": true, "privateIPAddressVersion": "IPv4",
					"subnet": map[string]any{"id": base + "virtualNetworks/vnet-" + r.RG + "/subnets/default"}}}},
			"dnsSettings":                 map[string]any{"dnsServers": []any{}, "appliedDnsServers": []any{}},
			"enableAcceleratedNetworking": true, "enableIPForwarding": false, "macAddress": "00-0D-3A-1B-2C-3D",
			"networkSecurityGroup": map[string]any{"id": base + "networkSecurityGroups/nsg-" + r.RG},
			"virtualMachine":       map[string]any{"id": rgID(r) + "/providers/Microsoft.Compute/virtualMachines/vm-" + strings.TrimPrefix(r.Name, "nic-")},
		}}
}

func nsgBody(r *Resource, s state) map[string]any {
	rule := func(name, port string, prio int, access string) map[string]any {
		return map[string]any{"name": name, "id": r.ID + "/securityRules/" + name, "properties": map[string]any{
			"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": port, "sourceAddressPrefix": "10.0.0.0/8",
			"destinationAddressPrefix": "*", "access": access, "priority": prio, "direction": "Inbound", "provisioningState": "Succeeded"}}
	}
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"properties": map[string]any{"provisioningState": "Succeeded", "resourceGuid": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
			"securityRules": []any{rule("allow-https", "443", 100, "Allow"), rule("deny-ssh", "22", 4000, "Deny"), rule("deny-rdp", "3389", 4010, "Deny")}}}
}

func vnetBody(r *Resource, s state) map[string]any {
	var subnets []any
	for i, n := range []string{"default", "data", "app"} {
		subnets = append(subnets, map[string]any{"name": n, "id": r.ID + "/subnets/" + n,
			"properties": map[string]any{"addressPrefix": fmt.Sprintf("10.20.%d.0/24", i+1), "provisioningState": "Succeeded", "privateEndpointNetworkPolicies": "Disabled"}})
	}
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"properties": map[string]any{"provisioningState": "Succeeded", "addressSpace": map[string]any{"addressPrefixes": []any{"10.20.0.0/16"}},
			"subnets": subnets, "enableDdosProtection": false, "virtualNetworkPeerings": []any{}}}
}

func pipBody(r *Resource, s state) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"sku": map[string]any{"name": "Standard", "tier": "Regional"}, "zones": []any{"1", "2", "3"},
		"properties": map[string]any{"provisioningState": "Succeeded", "publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4",
			"ipAddress": "20.51.12.34", "idleTimeoutInMinutes": 4, "ipTags": []any{}}}
}

func vaultBody(r *Resource, s state) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": s.location, "tags": tags(s),
		"properties": map[string]any{"tenantId": "4f1e2d3c-5b6a-4798-8a9b-0c1d2e3f4a5b", "sku": map[string]any{"family": "A", "name": "premium"},
			"enableSoftDelete": true, "softDeleteRetentionInDays": 90, "enablePurgeProtection": true, "enableRbacAuthorization": true,
			"vaultUri": "https://" + r.Name + ".vault.azure.net/", "provisioningState": "Succeeded", "publicNetworkAccess": "Disabled"}}
}

func siteBody(r *Resource, s state) map[string]any {
	return map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "kind": "app,linux", "location": s.location, "tags": tags(s),
		"properties": map[string]any{"state": "Running", "hostNames": []any{r.Name + ".azurewebsites.net"}, "enabled": true,
			"serverFarmId": rgID(r) + "/providers/Microsoft.Web/serverfarms/plan-" + r.RG, "httpsOnly": true,
			"defaultHostName": r.Name + ".azurewebsites.net", "clientCertEnabled": false, "publicNetworkAccess": "Disabled",
			"siteConfig": map[string]any{"linuxFxVersion": "DOTNETCORE|8.0", "minTlsVersion": "1.2", "ftpsState": "Disabled", "http20Enabled": true}}}
}
