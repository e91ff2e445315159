package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// ARM types the access rules judge or gather. ARM's own spelling of a type
// varies (a PIM schedule GET says Microsoft.Authorization/RoleAssignmentSchedules,
// research/azure-events.md §4.6), so types are always compared with EqualFold.
const (
	// TypeJITPolicy is a Defender for Cloud JIT network access policy (research §4.5, S16).
	TypeJITPolicy = "Microsoft.Security/locations/jitNetworkAccessPolicies"
	// TypeRoleAssignment is an Azure RBAC role assignment (research §4.6, S17, api 2022-04-01).
	TypeRoleAssignment = guard.TypeRoleAssignment
	// TypeRoleAssignmentSchedule is a PIM active-assignment schedule (research §4.6, api 2020-10-01).
	TypeRoleAssignmentSchedule = "Microsoft.Authorization/roleAssignmentSchedules"
	// TypeRoleAssignmentScheduleRequest is the PIM request (activation, assignment)
	// that creates a schedule; it is what a person PUTs, so it is what events name.
	TypeRoleAssignmentScheduleRequest = "Microsoft.Authorization/roleAssignmentScheduleRequests"
	// TypeRoleAssignmentScheduleInstance is a schedule's current instance: the
	// one PIM body that names the role assignment it created
	// (originRoleAssignmentId, research §4.6, api 2020-10-01).
	TypeRoleAssignmentScheduleInstance = "Microsoft.Authorization/roleAssignmentScheduleInstances"

	accessTypeVM     = "Microsoft.Compute/virtualMachines"
	accessTypeNIC    = "Microsoft.Network/networkInterfaces"
	accessTypeSubnet = "Microsoft.Network/virtualNetworks/subnets"
	accessTypeNSG    = "Microsoft.Network/networkSecurityGroups"
)

// GrantKindJIT and GrantKindPIM are the Kind of the grants the access rules list.
const (
	GrantKindJIT = "jit"
	GrantKindPIM = "pim"
)

// accessIs compares ARM resource types case-insensitively.
func accessIs(typ, want string) bool { return strings.EqualFold(strings.TrimSpace(typ), want) }

// accessTypeOf is the type of a resource: its own type field, else the type its
// ID names (a subnet GET carries no type, SubnetGet.json).
func accessTypeOf(r *guard.Resource) string {
	if r == nil {
		return ""
	}
	if r.Type != "" {
		return r.Type
	}
	return guard.TypeOf(r.ID)
}

// accessLive returns the gathered resource with this ID when it was read and
// exists (nil when it is gone, out of scope or never read).
func accessLive(in guard.Input, id string) *guard.Resource {
	if strings.TrimSpace(id) == "" {
		return nil
	}
	r := in.RelatedResource(id)
	if r == nil || r.Deleted {
		return nil
	}
	return r
}

// accessTime reads an ARM timestamp. ARM writes RFC 3339 with up to seven
// fractional digits ("2018-05-17T09:06:45.5691611Z", S16); a time without a zone
// is UTC, as every ARM time is.
func accessTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// accessStamp writes a time for evidence and messages.
func accessStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// accessDur writes a duration the way a person reads it: 3h, 5m, 8h30m, 90s.
func accessDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// accessHash is a short stable hash of its parts, for grant and finding keys.
func accessHash(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// accessName is the last segment of a resource ID.
func accessName(id string) string {
	id = strings.TrimRight(strings.TrimSpace(id), "/")
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// accessSegment returns the value after a key segment of a resource ID
// ("resourceGroups" in "/subscriptions/s/resourceGroups/rg/..." gives "rg").
func accessSegment(id, key string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], key) {
			return parts[i+1]
		}
	}
	return ""
}

// accessGrace is the policy's grace for access.jit-overstay.
func accessGrace(p *guard.Policy) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.Rules[guard.RuleJITOverstay].Grace)
}

// accessMaxDuration is the policy's maxDuration for access.jit-window (0: none set).
func accessMaxDuration(p *guard.Policy) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.Rules[guard.RuleJITWindow].MaxDuration)
}

func accessItoa(n int) string { return strconv.Itoa(n) }
