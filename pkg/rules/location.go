package rules

import (
	"fmt"
	"strings"

	"github.com/exportguard/exportguard/internal/fastjson"
	"github.com/exportguard/exportguard/pkg/guard"
)

// Location is residency.location for every resource type: a resource that has a
// region must be in the allowed set.
//
// ARM writes the region either as a programmatic name ("eastus") or, for Cosmos
// DB, SQL and disks, as a display name ("East US", research §5.3); both are
// compared through the region table. A resource without a location, or with
// "global" (DNS zones, Front Door, role assignments), holds no data in a region
// and gets no verdict. Neither do resources under a Microsoft.Security
// "locations" pseudo-resource (JIT policies), whose location is where Defender
// for Cloud keeps the policy, not where data is.
//
// A child resource's location is always its parent's (a SQL database and its
// server, a server's failover group, a vault's key), so a child's location is
// reported as the parent's finding: the same fact, one finding, on the resource
// a person would move (DESIGN 3.3).
//
// Because it applies to every type, every succeeded change leads to a read of
// its resource: the ARM reader must be able to read any type, not only those
// whose api-version it pins.
type Location struct{}

func (Location) ID() string { return guard.RuleResidencyLocation }

func (Location) Applies(t string) bool { return strings.TrimSpace(t) != "" }

func (Location) Evaluate(in guard.Input) []guard.Verdict {
	res := in.Resource
	loc := strings.TrimSpace(res.Location)
	if loc == "" {
		var b locationBody
		if fastjson.Unmarshal(res.Body, &b) == nil {
			loc = strings.TrimSpace(b.Location)
		}
	}
	if loc == "" || strings.EqualFold(loc, "global") || underLocationsPseudo(res.ID) {
		return nil
	}
	target, typ := res.ID, res.Type
	allowed := in.Policy.AllowedSummary()
	evidence := regionFacts(loc)
	evidence["allowed"] = allowed
	via := ""
	if parent := guard.ParentOf(res.ID); parent != "" {
		target, typ = parent, guard.TypeOf(parent)
		evidence["reportedVia"] = res.ID
		via = fmt.Sprintf(" (the region of its child %s)", nameOf(res.ID))
	}
	who := kindOf(typ, target)
	if in.Policy.RegionAllowed(loc) {
		return []guard.Verdict{{Rule: guard.RuleResidencyLocation, ResourceID: target, Evidence: evidence,
			Message: fmt.Sprintf("%s is in %s%s, inside the allowed %s.", who, regionLabel(loc), via, allowed)}}
	}
	// The region's geography, or that it has none, is said in parentheses, so
	// that the clauses after it ("(the region of its child …)", ", outside …")
	// read the same either way.
	where := regionLabel(loc) + " (not a known Azure region)"
	if g := geographyOf(loc); g != "unknown" {
		where = regionLabel(loc) + " (geography " + g + ")"
	}
	return []guard.Verdict{{Rule: guard.RuleResidencyLocation, ResourceID: target, Violation: true, Evidence: evidence,
		Message: fmt.Sprintf("%s is in %s%s, outside the allowed %s.", who, where, via, allowed),
		Action: fmt.Sprintf("recreate %s in an allowed region (%s), move its data there, and delete it from %s",
			nameOf(target), allowed, regionLabel(loc))}}
}

// underLocationsPseudo reports whether a resource lives under a provider's
// "locations" pseudo-resource (Microsoft.Security/locations/<region>/...).
func underLocationsPseudo(id string) bool {
	parts := strings.Split(guard.TypeOf(id), "/")
	for _, p := range parts[1:] {
		if strings.EqualFold(p, "locations") {
			return true
		}
	}
	return false
}

// locationBody is what Location reads of a body whose resource has no location field.
type locationBody struct {
	Location string `json:"location"`
}
