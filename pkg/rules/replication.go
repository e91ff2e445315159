package rules

import (
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// CosmosReplication is residency.replication for Cosmos DB accounts: every
// region the account keeps data in (properties.locations, readLocations,
// writeLocations and failoverPolicies, research §4.2, S13) must be allowed.
// Cosmos DB names regions by display name ("East US"), even when the request
// used the programmatic name.
type CosmosReplication struct{}

func (CosmosReplication) ID() string { return guard.RuleResidencyReplication }

func (CosmosReplication) Applies(t string) bool { return isType(t, TypeCosmosAccount) }

type cosmosLocation struct {
	LocationName     string  `json:"locationName"`
	FailoverPriority flexInt `json:"failoverPriority"`
}

type cosmosAccount struct {
	Name       string `json:"name"`
	Properties struct {
		Locations         []cosmosLocation `json:"locations"`
		ReadLocations     []cosmosLocation `json:"readLocations"`
		WriteLocations    []cosmosLocation `json:"writeLocations"`
		FailoverPolicies  []cosmosLocation `json:"failoverPolicies"`
		MinimalTLSVersion *string          `json:"minimalTlsVersion"`
		KeyVaultKeyURI    string           `json:"keyVaultKeyUri"`
	} `json:"properties"`
}

func (CosmosReplication) Evaluate(in guard.Input) []guard.Verdict {
	var a cosmosAccount
	if !decode(in.Resource.Body, &a) {
		return nil
	}
	p := a.Properties
	var regions []string // as written, first spelling of each region, in order of appearance
	seen := map[string]bool{}
	writes := map[string]bool{}
	add := func(l cosmosLocation, write bool) {
		n := region.Normalize(l.LocationName)
		if n == "" {
			return
		}
		if write {
			writes[n] = true
		}
		if !seen[n] {
			seen[n] = true
			regions = append(regions, strings.TrimSpace(l.LocationName))
		}
	}
	for _, l := range p.WriteLocations {
		add(l, true)
	}
	for _, list := range [][]cosmosLocation{p.Locations, p.FailoverPolicies} {
		for _, l := range list {
			add(l, l.FailoverPriority.Set && l.FailoverPriority.Value == 0)
		}
	}
	for _, l := range p.ReadLocations {
		add(l, false)
	}
	if len(regions) == 0 {
		return nil // no region data: nothing to judge
	}
	id := in.Resource.ID
	name := firstNonEmpty(a.Name, nameOf(id))
	var outside, outsideWrite []string
	geos := map[string]any{}
	for _, r := range regions {
		if !in.Policy.RegionAllowed(r) {
			outside = append(outside, r)
			geos[r] = geographyOf(r)
			if writes[region.Normalize(r)] {
				outsideWrite = append(outsideWrite, r)
			}
		}
	}
	evidence := map[string]any{"regions": regions, "allowed": in.Policy.AllowedSummary()}
	if len(outside) == 0 {
		return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Evidence: evidence,
			Message: fmt.Sprintf("Cosmos DB account %s keeps its data in %s, inside the allowed set.", name, joinAnd(regions))}}
	}
	evidence["outsideRegions"], evidence["outsideGeographies"] = outside, geos
	action := fmt.Sprintf("remove %s from properties.locations", joinAnd(outside))
	if len(outsideWrite) > 0 {
		evidence["outsideWriteRegions"] = outsideWrite
		action = fmt.Sprintf("fail the write region over to an allowed region, then remove %s from properties.locations", joinAnd(outside))
	}
	return []guard.Verdict{{Rule: guard.RuleResidencyReplication, ResourceID: id, Violation: true, Evidence: evidence, Action: action,
		Message: fmt.Sprintf("Cosmos DB account %s keeps data in %s, outside the allowed %s.", name, joinAnd(outside), in.Policy.AllowedSummary())}}
}

// SQLFailoverGroupReplication is residency.replication for SQL failover groups
// (research §4.3, S14 FailoverGroupGet): every partner server must be in an
// allowed region. A failover group is a child of its server, so the verdict is
// the server's (DESIGN 3.3), one finding per failover group.
type SQLFailoverGroupReplication struct{}

func (SQLFailoverGroupReplication) ID() string { return guard.RuleResidencyReplication }

func (SQLFailoverGroupReplication) Applies(t string) bool { return isType(t, TypeSQLFailoverGroup) }

func (SQLFailoverGroupReplication) Evaluate(in guard.Input) []guard.Verdict {
	var fg failoverGroupBody
	server := guard.ParentOf(in.Resource.ID)
	if !decode(in.Resource.Body, &fg) || server == "" || len(fg.Properties.PartnerServers) == 0 {
		return nil
	}
	name := firstNonEmpty(fg.Name, nameOf(in.Resource.ID))
	var partners []any
	var outside []string
	for _, ps := range fg.Properties.PartnerServers {
		partners = append(partners, map[string]any{"id": ps.ID, "location": ps.Location, "geography": geographyOf(ps.Location), "replicationRole": ps.ReplicationRole})
		if !in.Policy.RegionAllowed(ps.Location) {
			outside = append(outside, fmt.Sprintf("%s in %s", nameOf(ps.ID), regionLabel(ps.Location)))
		}
	}
	evidence := map[string]any{"failoverGroup": in.Resource.ID, "replicationRole": fg.Properties.ReplicationRole,
		"partnerServers": partners, "databases": len(fg.Properties.Databases), "allowed": in.Policy.AllowedSummary()}
	v := guard.Verdict{Rule: guard.RuleResidencyReplication, ResourceID: server, GrantID: guard.ChildVerdictGrant(in.Resource.ID), Evidence: evidence}
	if len(outside) == 0 {
		v.Message = fmt.Sprintf("SQL server %s's failover group %s pairs it only with servers inside the allowed set.", nameOf(server), name)
		return []guard.Verdict{v}
	}
	v.Violation = true
	v.Message = fmt.Sprintf("SQL server %s replicates through failover group %s to %s, outside the allowed %s.",
		nameOf(server), name, joinAnd(outside), in.Policy.AllowedSummary())
	v.Action = fmt.Sprintf("delete failover group %s and its geo-secondary databases, or recreate it with a partner server in an allowed region", name)
	return []guard.Verdict{v}
}

// SQLReplicationLinkReplication is residency.replication for SQL geo-replicas
// (research §4.3, S14 ReplicationLinkGet): the partner database of a
// replication link must be in an allowed region. The link is a child of the
// database, so the verdict is the database's (DESIGN 3.3), one finding per link.
type SQLReplicationLinkReplication struct{}

func (SQLReplicationLinkReplication) ID() string { return guard.RuleResidencyReplication }

func (SQLReplicationLinkReplication) Applies(t string) bool { return isType(t, TypeSQLReplicationLink) }

func (SQLReplicationLinkReplication) Evaluate(in guard.Input) []guard.Verdict {
	var link replicationLinkBody
	database := guard.ParentOf(in.Resource.ID)
	if !decode(in.Resource.Body, &link) || database == "" || link.Properties == nil {
		return nil
	}
	p := link.Properties
	name := firstNonEmpty(link.Name, nameOf(in.Resource.ID))
	evidence := map[string]any{"replicationLink": in.Resource.ID, "partnerServer": p.PartnerServer, "partnerDatabase": p.PartnerDatabase,
		"partnerDatabaseId": p.PartnerDatabaseID, "partnerLocation": p.PartnerLocation, "partnerGeography": geographyOf(p.PartnerLocation),
		"role": p.Role, "partnerRole": p.PartnerRole, "linkType": p.LinkType, "allowed": in.Policy.AllowedSummary()}
	partner := fmt.Sprintf("%s on server %s", firstNonEmpty(p.PartnerDatabase, "its partner database"), firstNonEmpty(p.PartnerServer, "(unnamed)"))
	v := guard.Verdict{Rule: guard.RuleResidencyReplication, ResourceID: database, GrantID: guard.ChildVerdictGrant(in.Resource.ID), Evidence: evidence}
	dbName := nameOf(database)
	if in.Policy.RegionAllowed(p.PartnerLocation) {
		v.Message = fmt.Sprintf("SQL database %s is geo-replicated to %s in %s, inside the allowed set.", dbName, partner, regionLabel(p.PartnerLocation))
		return []guard.Verdict{v}
	}
	v.Violation = true
	v.Message = fmt.Sprintf("SQL database %s is geo-replicated to %s in %s, outside the allowed %s.",
		dbName, partner, regionLabel(p.PartnerLocation), in.Policy.AllowedSummary())
	v.Action = fmt.Sprintf("remove the geo-replica: delete replication link %s (and the secondary database %s)", name, firstNonEmpty(p.PartnerDatabaseID, partner))
	return []guard.Verdict{v}
}

// failoverGroupBody is what SQLFailoverGroupReplication reads of a failover group.
type failoverGroupBody struct {
	Name       string `json:"name"`
	Properties struct {
		ReplicationRole string `json:"replicationRole"`
		PartnerServers  []struct {
			ID              string `json:"id"`
			Location        string `json:"location"`
			ReplicationRole string `json:"replicationRole"`
		} `json:"partnerServers"`
		Databases []string `json:"databases"`
	} `json:"properties"`
}

// replicationLinkBody is what SQLReplicationLinkReplication reads of a replication link.
type replicationLinkBody struct {
	Name       string `json:"name"`
	Properties *struct {
		PartnerServer     string `json:"partnerServer"`
		PartnerDatabase   string `json:"partnerDatabase"`
		PartnerDatabaseID string `json:"partnerDatabaseId"`
		PartnerLocation   string `json:"partnerLocation"`
		Role              string `json:"role"`
		PartnerRole       string `json:"partnerRole"`
		LinkType          string `json:"linkType"`
		ReplicationState  string `json:"replicationState"`
	} `json:"properties"`
}
