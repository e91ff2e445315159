package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// PIM for Azure resources, as the ARM API returns it (api-version 2020-10-01;
// research §4.6, S17; spec examples copied into testdata/access):
//
//   - roleAssignmentSchedules/{name}: properties{scope, roleDefinitionId,
//     principalId, principalType, status, roleAssignmentScheduleRequestId,
//     startDateTime, endDateTime (absent for a permanent assignment),
//     expandedProperties{scope, roleDefinition, principal}}. Its type comes back
//     as Microsoft.Authorization/RoleAssignmentSchedules and its scope sometimes
//     as /providers/Microsoft.Subscription/subscriptions/{id}.
//   - roleAssignmentScheduleRequests/{name}: what a person PUTs to activate or
//     assign (requestType SelfActivate, AdminAssign, ...), with
//     targetRoleAssignmentScheduleId, status and scheduleInfo{startDateTime,
//     expiration{type, endDateTime, duration}}. Events name requests, not
//     schedules (schedules are created by PIM), so a request leads the rules to
//     its schedule.
//   - roleAssignmentScheduleInstances/{name}: the instance carries
//     originRoleAssignmentId, "Role Assignment Id in external system" — the one
//     field the API documents as naming the role assignment (S17
//     GetRoleAssignmentScheduleInstanceByName.json).
//
// Which role assignment an activation created: the instance says so. A
// roleAssignmentScheduleInstance links its schedule (roleAssignmentScheduleId),
// the eligibility it activated (linkedRoleEligibilityScheduleId) and the role
// assignment (originRoleAssignmentId); the spec's example of one
// (GetRoleAssignmentScheduleInstanceByName.json) names role assignment
// ed9b8180-… for schedule c9e264ff-… and request fea7a502-…: the role
// assignment is not named after the schedule. An instance's own name is "hash
// of schedule name + time" (RoleAssignmentScheduleInstance.json), so a
// schedule cannot name its instance either; instances are judged when a state
// of one arrives (an ARM read, a Resource Graph row, a recorded session), and
// their grant is on the role assignment they link.
//
// What the Activity Log and Event Grid report of an activation is the request
// (and PIM's roleAssignments/write, which names neither request nor schedule),
// so a schedule or request finds its instance by listing: the rules are
// ListGatherers (pimLists), and the instance of the schedule that the list
// returns gives the role assignment (pimLink).
//
// A schedule or request with no instance listed still lists a grant, on
// {scope}/providers/Microsoft.Authorization/roleAssignments/{schedule name}, and
// says so in roleAssignmentIdFrom: PIM's ARM documentation has the caller
// "generate a unique identifier that will be used for the role assignment
// identifier" and use it as the roleAssignmentScheduleRequestName
// (learn.microsoft.com, pim-resource-roles-activate-your-roles), but no example
// shows it and the spec's instance example contradicts it: it is an
// assumption, kept only for when no instance could be listed or none links a
// role assignment.
type pimBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		Scope                           string `json:"scope"`
		RoleDefinitionID                string `json:"roleDefinitionId"`
		PrincipalID                     string `json:"principalId"`
		PrincipalType                   string `json:"principalType"`
		Status                          string `json:"status"`
		StartDateTime                   string `json:"startDateTime"`
		EndDateTime                     string `json:"endDateTime"`
		RoleAssignmentScheduleRequestID string `json:"roleAssignmentScheduleRequestId"`
		OriginRoleAssignmentID          string `json:"originRoleAssignmentId"`
		RoleAssignmentScheduleID        string `json:"roleAssignmentScheduleId"`
		LinkedRoleEligibilityScheduleID string `json:"linkedRoleEligibilityScheduleId"`
		TargetRoleAssignmentScheduleID  string `json:"targetRoleAssignmentScheduleId"`
		RequestType                     string `json:"requestType"`
		ScheduleInfo                    struct {
			StartDateTime string `json:"startDateTime"`
			Expiration    struct {
				Type        string `json:"type"`
				EndDateTime string `json:"endDateTime"`
				Duration    string `json:"duration"`
			} `json:"expiration"`
		} `json:"scheduleInfo"`
		ExpandedProperties struct {
			Scope          accessNamed `json:"scope"`
			RoleDefinition accessNamed `json:"roleDefinition"`
			Principal      accessNamed `json:"principal"`
		} `json:"expandedProperties"`
	} `json:"properties"`
}

type accessNamed struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	Email       string `json:"email"`
	Type        string `json:"type"`
}

// pimAssignment is an active role assignment PIM manages, from a schedule (or a
// request whose schedule could not be read).
type pimAssignment struct {
	From               string // the schedule (or request) ID it was read from
	ScheduleID         string
	RequestID          string
	RoleAssignmentID   string
	RoleAssignmentFrom string // how RoleAssignmentID was found
	InstanceID         string // the schedule instance that linked it, if any
	EligibilityID      string // linkedRoleEligibilityScheduleId, if the body has it
	PrincipalID        string
	PrincipalType      string
	PrincipalName      string
	RoleDefinitionID   string
	RoleName           string
	Scope              string
	Status             string
	Start, End         time.Time // End is zero for a permanent assignment
}

// pimScope turns the scope PIM writes into the one ARM IDs use:
// "/providers/Microsoft.Subscription/subscriptions/{id}" is "/subscriptions/{id}".
func pimScope(s string) string {
	s = "/" + strings.Trim(strings.TrimSpace(s), "/")
	const sub = "/providers/microsoft.subscription/subscriptions/"
	if strings.HasPrefix(strings.ToLower(s), sub) {
		s = "/subscriptions/" + s[len(sub):]
	}
	if s == "/" {
		return ""
	}
	return s
}

func pimRoleAssignmentID(scope, name string) string {
	if scope == "" || name == "" {
		return ""
	}
	return scope + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// pimRequestGrants reports whether a request type grants access (AdminAssign,
// SelfActivate, extensions, renewals) rather than removing it (AdminRemove,
// SelfDeactivate).
func pimRequestGrants(t string) bool {
	t = strings.ToLower(strings.TrimSpace(t))
	return !strings.Contains(t, "remove") && !strings.Contains(t, "deactivate")
}

func (b *pimBody) scope() string {
	if s := pimScope(b.Properties.ExpandedProperties.Scope.ID); s != "" {
		return s
	}
	return pimScope(b.Properties.Scope)
}

func (b *pimBody) assignment() pimAssignment {
	p := b.Properties
	a := pimAssignment{PrincipalID: strings.TrimSpace(p.PrincipalID), PrincipalType: p.PrincipalType,
		RoleDefinitionID: p.RoleDefinitionID, Scope: b.scope(), Status: p.Status,
		RoleName: p.ExpandedProperties.RoleDefinition.DisplayName}
	a.PrincipalName = p.ExpandedProperties.Principal.DisplayName
	if e := p.ExpandedProperties.Principal.Email; e != "" {
		a.PrincipalName = strings.TrimSpace(a.PrincipalName + " <" + e + ">")
	}
	if a.RoleName == "" {
		a.RoleName = accessRoleName(p.RoleDefinitionID)
	}
	return a
}

// pimTargetScheduleID is the schedule a request created: its
// targetRoleAssignmentScheduleId (a bare name in S17's example, or an ID), else
// the schedule of the request's own name.
func (b *pimBody) pimTargetScheduleID() string {
	t := strings.TrimSpace(b.Properties.TargetRoleAssignmentScheduleID)
	if strings.Contains(t, "/") {
		return pimScope(t)
	}
	if t == "" {
		t = b.name()
	}
	if s := b.scope(); s != "" && t != "" {
		return s + "/providers/Microsoft.Authorization/roleAssignmentSchedules/" + t
	}
	return ""
}

func (b *pimBody) name() string {
	if b.Name != "" {
		return b.Name
	}
	return accessName(b.ID)
}

// pimFromSchedule reads an assignment from a schedule body.
func pimFromSchedule(b *pimBody) pimAssignment {
	a := b.assignment()
	a.From, a.ScheduleID = b.ID, b.ID
	if b.Properties.RoleAssignmentScheduleRequestID != "" {
		a.RequestID = pimScope(b.Properties.RoleAssignmentScheduleRequestID)
	}
	a.Start, _ = accessTime(b.Properties.StartDateTime)
	a.End, _ = accessTime(b.Properties.EndDateTime)
	a.EligibilityID = strings.TrimSpace(b.Properties.LinkedRoleEligibilityScheduleID)
	if o := strings.TrimSpace(b.Properties.OriginRoleAssignmentID); o != "" {
		a.RoleAssignmentID, a.RoleAssignmentFrom = pimScope(o), "properties.originRoleAssignmentId"
	} else {
		a.RoleAssignmentID, a.RoleAssignmentFrom = pimRoleAssignmentID(a.Scope, b.name()), pimAssumedFrom
	}
	return a
}

// pimAssumedFrom says that a role assignment ID was not linked but assumed;
// pimAssumedListedFrom, that the schedule's instances were listed and none
// links one.
const (
	pimAssumedFrom       = "assumed: the schedule's name (no schedule instance linked it by originRoleAssignmentId)"
	pimAssumedListedFrom = "assumed: the schedule's name (its schedule instances were listed; none links a role assignment by originRoleAssignmentId)"
)

// pimFromInstance reads an assignment from a schedule instance: the role
// assignment is the one its originRoleAssignmentId links, and nothing else.
func pimFromInstance(b *pimBody) (pimAssignment, bool) {
	p := b.Properties
	o := strings.TrimSpace(p.OriginRoleAssignmentID)
	if o == "" {
		return pimAssignment{}, false
	}
	a := b.assignment()
	a.From, a.InstanceID = b.ID, b.ID
	a.RoleAssignmentID, a.RoleAssignmentFrom = pimScope(o), "properties.originRoleAssignmentId of schedule instance "+accessName(b.ID)
	if s := strings.TrimSpace(p.RoleAssignmentScheduleID); s != "" {
		a.ScheduleID = pimScope(s)
	}
	a.EligibilityID = strings.TrimSpace(p.LinkedRoleEligibilityScheduleID)
	a.Start, _ = accessTime(p.StartDateTime)
	a.End, _ = accessTime(p.EndDateTime)
	return a, true
}

// pimFromRequest reads an assignment from a request whose schedule could not be
// read: only a request PIM provisioned grants anything.
func pimFromRequest(b *pimBody) (pimAssignment, bool) {
	if !strings.EqualFold(b.Properties.Status, "Provisioned") {
		return pimAssignment{}, false
	}
	a := b.assignment()
	a.From, a.RequestID, a.ScheduleID = b.ID, b.ID, b.pimTargetScheduleID()
	si := b.Properties.ScheduleInfo
	a.Start, _ = accessTime(si.StartDateTime)
	if end, ok := accessTime(si.Expiration.EndDateTime); ok {
		a.End = end
	} else if d, err := guard.ParseDuration(si.Expiration.Duration); err == nil && !a.Start.IsZero() {
		a.End = a.Start.Add(d)
	}
	a.RoleAssignmentID, a.RoleAssignmentFrom = pimRoleAssignmentID(a.Scope, accessName(a.ScheduleID)), pimAssumedFrom
	return a, true
}

// pimAssignmentOf reads the assignment the judged schedule or request stands for.
func pimAssignmentOf(in guard.Input) (pimAssignment, bool) {
	r := in.Resource
	if r == nil || r.Deleted {
		return pimAssignment{}, false
	}
	var b pimBody
	if !accessDecode(r.Body, &b) {
		return pimAssignment{}, false
	}
	if b.ID == "" {
		b.ID = r.ID
	}
	typ := accessTypeOf(r)
	switch {
	case accessIs(typ, TypeRoleAssignmentScheduleInstance):
		return pimFromInstance(&b)
	case accessIs(typ, TypeRoleAssignmentSchedule):
		a := pimFromSchedule(&b)
		pimLink(in, &a)
		return a, a.RoleAssignmentID != ""
	case accessIs(typ, TypeRoleAssignmentScheduleRequest):
		if !pimRequestGrants(b.Properties.RequestType) {
			return pimAssignment{}, false
		}
		if sr := accessLive(in, b.pimTargetScheduleID()); sr != nil {
			var sb pimBody
			if accessDecode(sr.Body, &sb) {
				if sb.ID == "" {
					sb.ID = sr.ID
				}
				a := pimFromSchedule(&sb)
				a.RequestID = b.ID
				pimLink(in, &a)
				return a, a.RoleAssignmentID != ""
			}
		}
		a, ok := pimFromRequest(&b)
		if ok {
			pimLink(in, &a)
		}
		return a, ok && a.RoleAssignmentID != ""
	}
	return pimAssignment{}, false
}

// pimRelated gathers, for a request, the schedule it created.
func pimRelated(res *guard.Resource) []string {
	if res == nil || !accessIs(accessTypeOf(res), TypeRoleAssignmentScheduleRequest) {
		return nil
	}
	var b pimBody
	if !accessDecode(res.Body, &b) || !pimRequestGrants(b.Properties.RequestType) {
		return nil
	}
	if b.ID == "" {
		b.ID = res.ID
	}
	if id := b.pimTargetScheduleID(); id != "" {
		return []string{id}
	}
	return nil
}

// pimInstanceQuery is the list read that finds a schedule's instances:
// RoleAssignmentScheduleInstances_ListForScope, GET
// {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleInstances
// (api-version 2020-10-01; a page is {"value": [...], "nextLink": ...},
// x-ms-pageable nextLinkName nextLink), filtered on roleAssignmentScheduleId,
// which the operation's OData filter model (RoleAssignmentScheduleInstanceFilter)
// declares for "role assignment schedule instances belonging to a specific role
// assignment schedule" (Azure/azure-rest-api-specs,
// specification/authorization/resource-manager/Microsoft.Authorization/stable/2020-10-01/RoleAssignmentScheduleInstance.json;
// learn.microsoft.com/rest/api/authorization/role-assignment-schedule-instances/list-for-scope).
// An instance's roleAssignmentScheduleId is the schedule's full ID
// (GetRoleAssignmentScheduleInstancesByScope.json), so that is the value.
func pimInstanceQuery(scope, scheduleID string) (guard.ListQuery, bool) {
	if scope == "" || scheduleID == "" || guard.SubscriptionOf(scope) == "" {
		return guard.ListQuery{}, false
	}
	return guard.ListQuery{Scope: scope, Type: TypeRoleAssignmentScheduleInstance,
		Property: "roleAssignmentScheduleId", Equals: pimScope(scheduleID)}, true
}

// pimLists asks, for a schedule or a granting request, for the instances of
// the schedule: the one link from it to the role assignment it created.
func pimLists(res *guard.Resource) []guard.ListQuery {
	if res == nil || res.Deleted {
		return nil
	}
	var b pimBody
	if !accessDecode(res.Body, &b) {
		return nil
	}
	if b.ID == "" {
		b.ID = res.ID
	}
	var schedule string
	switch typ := accessTypeOf(res); {
	case accessIs(typ, TypeRoleAssignmentSchedule):
		schedule = b.ID
	case accessIs(typ, TypeRoleAssignmentScheduleRequest) && pimRequestGrants(b.Properties.RequestType):
		schedule = b.pimTargetScheduleID()
	default:
		return nil
	}
	if q, ok := pimInstanceQuery(b.scope(), schedule); ok {
		return []guard.ListQuery{q}
	}
	return nil
}

// pimLink takes the role assignment an assignment stands for from its
// schedule's instance, when the instances were listed: its
// originRoleAssignmentId. Only an instance that names the schedule counts,
// whatever the list returned; of several, the latest to start.
func pimLink(in guard.Input, a *pimAssignment) {
	if a.RoleAssignmentFrom != pimAssumedFrom {
		return // the body named it itself
	}
	listed := false
	var best *pimBody
	var bestStart time.Time
	for _, q := range pimLists(in.Resource) {
		rs, ok := in.ListedFor(q)
		if !ok {
			continue
		}
		listed = true
		for _, r := range rs {
			var ib pimBody
			if r == nil || r.Deleted || !accessIs(accessTypeOf(r), TypeRoleAssignmentScheduleInstance) || !accessDecode(r.Body, &ib) {
				continue
			}
			if ib.ID == "" {
				ib.ID = r.ID
			}
			p := ib.Properties
			if !q.Matches(p.RoleAssignmentScheduleID) || strings.TrimSpace(p.OriginRoleAssignmentID) == "" ||
				(a.ScheduleID != "" && !q.Matches(a.ScheduleID)) {
				continue
			}
			start, _ := accessTime(p.StartDateTime)
			if best == nil || start.After(bestStart) || (start.Equal(bestStart) && guard.IDKey(ib.ID) > guard.IDKey(best.ID)) {
				best, bestStart = &ib, start
			}
		}
	}
	if best == nil {
		if listed {
			a.RoleAssignmentFrom = pimAssumedListedFrom
		}
		return
	}
	a.RoleAssignmentID = pimScope(best.Properties.OriginRoleAssignmentID)
	a.RoleAssignmentFrom = "properties.originRoleAssignmentId of schedule instance " + accessName(best.ID) + ", listed by roleAssignmentScheduleId"
	a.InstanceID = best.ID
	if a.EligibilityID == "" {
		a.EligibilityID = strings.TrimSpace(best.Properties.LinkedRoleEligibilityScheduleID)
	}
}

func (a pimAssignment) facts() map[string]any {
	m := map[string]any{"roleAssignmentId": a.RoleAssignmentID, "roleAssignmentIdFrom": a.RoleAssignmentFrom,
		"principalId": a.PrincipalID, "principalType": a.PrincipalType, "roleDefinitionId": a.RoleDefinitionID,
		"role": a.RoleName, "scope": a.Scope}
	if a.ScheduleID != "" {
		m["scheduleId"] = a.ScheduleID
	}
	if a.RequestID != "" {
		m["requestId"] = a.RequestID
	}
	if a.InstanceID != "" {
		m["scheduleInstanceId"] = a.InstanceID
	}
	if a.EligibilityID != "" {
		m["linkedRoleEligibilityScheduleId"] = a.EligibilityID
	}
	if a.PrincipalName != "" {
		m["principal"] = a.PrincipalName
	}
	if a.Status != "" {
		m["pimStatus"] = a.Status
	}
	if !a.Start.IsZero() {
		m["startDateTime"] = accessStamp(a.Start)
	}
	if !a.End.IsZero() {
		m["endDateTime"] = accessStamp(a.End)
	}
	return m
}

// who names the principal for a sentence: its name when PIM expanded it, else
// its kind and object ID ("service principal f6e5…").
func (a pimAssignment) who() string {
	if a.PrincipalName != "" {
		return a.PrincipalName
	}
	return accessPrincipal(a.PrincipalType, a.PrincipalID)
}

// accessPrincipal writes a principal type (User, Group, ServicePrincipal,
// ForeignGroup, Device) and object ID as words.
func accessPrincipal(typ, id string) string {
	var words []string
	for i, r := range strings.TrimSpace(typ) {
		if i > 0 && r >= 'A' && r <= 'Z' {
			words = append(words, " ")
		}
		words = append(words, string(r))
	}
	kind := strings.ToLower(strings.Join(words, ""))
	if kind == "" {
		kind = "principal"
	}
	return kind + " " + strings.TrimSpace(id)
}

// accessRoleName names a built-in role by its role definition GUID (the same in
// every cloud; learn.microsoft.com/azure/role-based-access-control/built-in-roles),
// else returns the GUID.
func accessRoleName(roleDefinitionID string) string {
	g := strings.ToLower(accessName(roleDefinitionID))
	if n, ok := accessBuiltInRoles[g]; ok {
		return n
	}
	return g
}

var accessBuiltInRoles = map[string]string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
	"9980e02c-c2be-4d73-94e8-173b1dc7cf3c": "Virtual Machine Contributor",
	"1c0163c0-47e6-4577-8991-ea5c82e286e4": "Virtual Machine Administrator Login",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
}

// pimDetails is what a PIM grant carries for the sweep's check.
type pimDetails struct {
	pimFacts
	Grace string `json:"grace,omitempty"`
}

type pimFacts struct {
	ScheduleID         string    `json:"scheduleId,omitempty"`
	RequestID          string    `json:"requestId,omitempty"`
	InstanceID         string    `json:"scheduleInstanceId,omitempty"`
	EligibilityID      string    `json:"linkedRoleEligibilityScheduleId,omitempty"`
	RoleAssignmentFrom string    `json:"roleAssignmentIdFrom,omitempty"`
	PrincipalType      string    `json:"principalType,omitempty"`
	Principal          string    `json:"principal,omitempty"`
	RoleDefinitionID   string    `json:"roleDefinitionId,omitempty"`
	Role               string    `json:"role,omitempty"`
	Scope              string    `json:"scope,omitempty"`
	End                time.Time `json:"endDateTime"`
}

// ---------------------------------------------------------------------------
// access.jit-overstay, PIM

// PIMOverstay is access.jit-overstay for PIM time-bound role assignments: once a
// schedule's endDateTime plus the policy's grace has passed, the role assignment
// it created must be gone. Schedules (and requests, through their schedules) list
// the grants; the sweep reads the role assignment when each is due.
type PIMOverstay struct{}

func (PIMOverstay) ID() string        { return guard.RuleJITOverstay }
func (PIMOverstay) GrantKind() string { return GrantKindPIM }
func (PIMOverstay) Applies(typ string) bool {
	return accessIs(typ, TypeRoleAssignmentSchedule) || accessIs(typ, TypeRoleAssignmentScheduleRequest) ||
		accessIs(typ, TypeRoleAssignmentScheduleInstance)
}

// Evaluate has nothing to say before a grant is due; the sweep checks it then.
func (PIMOverstay) Evaluate(guard.Input) []guard.Verdict { return nil }

// Related gathers the schedule of a request.
func (PIMOverstay) Related(res *guard.Resource, _ map[string]*guard.Resource) []string {
	return pimRelated(res)
}

// Lists asks for the instances of the schedule, which link the role assignment.
func (PIMOverstay) Lists(res *guard.Resource) []guard.ListQuery { return pimLists(res) }

func pimGrantID(roleAssignmentID string) string {
	return guard.RuleJITOverstay + "/pim-" + accessHash("pim", guard.IDKey(roleAssignmentID))
}

// Grants lists the time-bound assignment: due at endDateTime plus the grace, on
// the role assignment. A permanent assignment (no endDateTime) lists nothing.
func (r PIMOverstay) Grants(in guard.Input) []guard.Grant {
	a, ok := pimAssignmentOf(in)
	if !ok || a.End.IsZero() {
		return nil
	}
	grace := accessGrace(in.Policy)
	d := pimDetails{pimFacts: pimFacts{ScheduleID: a.ScheduleID, RequestID: a.RequestID, InstanceID: a.InstanceID,
		EligibilityID: a.EligibilityID, RoleAssignmentFrom: a.RoleAssignmentFrom,
		PrincipalType: a.PrincipalType, Principal: a.PrincipalName, RoleDefinitionID: a.RoleDefinitionID, Role: a.RoleName,
		Scope: a.Scope, End: a.End}, Grace: accessDur(grace)}
	raw, _ := json.Marshal(d)
	return []guard.Grant{{ID: pimGrantID(a.RoleAssignmentID), Kind: GrantKindPIM, ResourceID: a.RoleAssignmentID,
		PrincipalID: a.PrincipalID, Start: a.Start, End: a.End.Add(grace), Details: raw}}
}

// CheckGrant judges a PIM grant after its end plus grace: the role assignment
// still there is a violation on it; gone is compliant.
func (r PIMOverstay) CheckGrant(g guard.Grant, in guard.Input) []guard.Verdict {
	var d pimDetails
	_ = json.Unmarshal(g.Details, &d)
	if d.End.IsZero() {
		d.End = g.End
	}
	name := accessName(g.ResourceID)
	who := d.Principal
	if who == "" {
		who = accessPrincipal(d.PrincipalType, g.PrincipalID)
	}
	ev := map[string]any{"roleAssignmentId": g.ResourceID, "roleAssignmentIdFrom": d.RoleAssignmentFrom,
		"principalId": g.PrincipalID, "principalType": d.PrincipalType, "roleDefinitionId": d.RoleDefinitionID,
		"role": d.Role, "scope": d.Scope, "scheduleId": d.ScheduleID, "endDateTime": accessStamp(d.End),
		"grace": d.Grace, "mustBeGoneBy": accessStamp(g.End)}
	if d.RequestID != "" {
		ev["requestId"] = d.RequestID
	}
	if d.InstanceID != "" {
		ev["scheduleInstanceId"] = d.InstanceID
	}
	if d.EligibilityID != "" {
		ev["linkedRoleEligibilityScheduleId"] = d.EligibilityID
	}
	if d.Principal != "" {
		ev["principal"] = d.Principal
	}
	v := guard.Verdict{Rule: r.ID(), ResourceID: g.ResourceID, Evidence: ev}
	if in.Resource == nil || in.Resource.Deleted {
		ev["roleAssignmentDeleted"] = true
		v.Message = fmt.Sprintf("Role assignment %s (%s for %s) is gone; its PIM schedule ended at %s.",
			name, d.Role, who, d.End.Format(time.RFC3339))
		return []guard.Verdict{v}
	}
	var ra struct {
		Properties struct {
			PrincipalID      string `json:"principalId"`
			RoleDefinitionID string `json:"roleDefinitionId"`
			Scope            string `json:"scope"`
		} `json:"properties"`
	}
	if accessDecode(in.Resource.Body, &ra) {
		ev["roleAssignmentPrincipalId"] = ra.Properties.PrincipalID
		ev["roleAssignmentRoleDefinitionId"] = ra.Properties.RoleDefinitionID
	}
	v.Violation = true
	v.Message = fmt.Sprintf("Role assignment %s still gives %s the %s role at %s, though its PIM schedule ended at %s (grace %s).",
		name, who, d.Role, d.Scope, d.End.Format(time.RFC3339), d.Grace)
	v.Action = "remove role assignment " + g.ResourceID
	return []guard.Verdict{v}
}

// ---------------------------------------------------------------------------
// access.unscreened-principal

// UnscreenedPrincipal is access.unscreened-principal: with a screened-persons
// roster in the policy, every role assignment, and every PIM schedule or
// request that creates one, must be to a principal on it. Verdicts name the
// role assignment. Without a roster the rule says nothing.
//
// JIT requests are not judged: their requestor is a user principal name, and the
// roster holds object IDs, which no rule can map a UPN to without a directory.
type UnscreenedPrincipal struct{}

func (UnscreenedPrincipal) ID() string { return guard.RuleUnscreenedPrincipal }
func (UnscreenedPrincipal) Applies(typ string) bool {
	return accessIs(typ, TypeRoleAssignment) || accessIs(typ, TypeRoleAssignmentSchedule) ||
		accessIs(typ, TypeRoleAssignmentScheduleRequest) || accessIs(typ, TypeRoleAssignmentScheduleInstance)
}

// Related gathers the schedule of a request.
func (UnscreenedPrincipal) Related(res *guard.Resource, _ map[string]*guard.Resource) []string {
	return pimRelated(res)
}

// Lists asks for the instances of the schedule, which link the role assignment.
func (UnscreenedPrincipal) Lists(res *guard.Resource) []guard.ListQuery { return pimLists(res) }

// accessObjectID normalises an object ID for comparison: lower case, no braces
// (the roster is lower-case GUIDs; Activity Log evidence writes them without
// dashes, research §1.6).
func accessObjectID(s string) string {
	s = strings.ToLower(strings.Trim(strings.TrimSpace(s), "{}"))
	return strings.ReplaceAll(s, "-", "")
}

func (r UnscreenedPrincipal) Evaluate(in guard.Input) []guard.Verdict {
	if in.Policy == nil || len(in.Policy.Roster) == 0 || in.Resource == nil || in.Resource.Deleted {
		return nil
	}
	var a pimAssignment
	if accessIs(accessTypeOf(in.Resource), TypeRoleAssignment) {
		var ra struct {
			ID         string `json:"id"`
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
				PrincipalType    string `json:"principalType"`
				Scope            string `json:"scope"`
				Description      string `json:"description"`
			} `json:"properties"`
		}
		if !accessDecode(in.Resource.Body, &ra) {
			return nil
		}
		a = pimAssignment{From: in.Resource.ID, RoleAssignmentID: in.Resource.ID, RoleAssignmentFrom: "the role assignment itself",
			PrincipalID: strings.TrimSpace(ra.Properties.PrincipalID), PrincipalType: ra.Properties.PrincipalType,
			RoleDefinitionID: ra.Properties.RoleDefinitionID, RoleName: accessRoleName(ra.Properties.RoleDefinitionID),
			Scope: ra.Properties.Scope}
	} else {
		var ok bool
		if a, ok = pimAssignmentOf(in); !ok {
			return nil
		}
	}
	if a.PrincipalID == "" || a.RoleAssignmentID == "" {
		return nil
	}
	ev := a.facts()
	ev["rosterSize"] = len(in.Policy.Roster)
	if !guard.SameID(a.From, a.RoleAssignmentID) {
		ev["judgedFrom"] = a.From
	}
	name := accessName(a.RoleAssignmentID)
	v := guard.Verdict{Rule: r.ID(), ResourceID: a.RoleAssignmentID, Evidence: ev}
	want := accessObjectID(a.PrincipalID)
	for _, id := range in.Policy.Roster {
		if accessObjectID(id) == want {
			ev["onRoster"] = true
			v.Message = fmt.Sprintf("Role assignment %s is held by %s, who is on the screened-persons roster.", name, a.who())
			return []guard.Verdict{v}
		}
	}
	ev["onRoster"] = false
	v.Violation = true
	v.Message = fmt.Sprintf("Role assignment %s gives %s the %s role at %s, but that principal is not on the screened-persons roster.",
		name, a.who(), a.RoleName, a.Scope)
	v.Action = "remove role assignment " + a.RoleAssignmentID
	return []guard.Verdict{v}
}
