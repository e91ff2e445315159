package rules

import "github.com/exportguard/exportguard/pkg/guard"

// dataRules are the rules about where data lives and how it is encrypted:
// residency.location, residency.replication, encryption.cmk, transit.tls.
func dataRules() []guard.Rule {
	return []guard.Rule{
		Location{}, // residency.location, every resource type with a region

		StorageReplication{}, // residency.replication
		CosmosReplication{},
		SQLFailoverGroupReplication{},
		SQLReplicationLinkReplication{},

		StorageCMK{}, // encryption.cmk
		SQLTDE{},
		DiskCMK{},
		KeyVaultKey{},
		KeyVaultKeyUse{},

		StorageTLS{}, // transit.tls
		SQLTLS{},
		CosmosTLS{},
	}
}
