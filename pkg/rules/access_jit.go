package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
	"github.com/exportguard/exportguard/pkg/region"
)

// A JIT network access policy as GET returns it (api-version 2020-01-01; research
// §4.5, S16 GetJitNetworkAccessPolicy_example.json; definitions in
// Microsoft.Security/stable/2020-01-01/jitNetworkAccessPolicies.json):
// properties.virtualMachines[] is what may be requested (ports with
// maxRequestAccessDuration, ISO 8601, 5 minutes to 1 day), properties.requests[]
// what was requested: startTimeUtc, requestor (a UPN), justification, and per
// VM per port the endTimeUtc, allowedSourceAddressPrefix(es), status (Initiated,
// Revoked) and statusReason (Expired, UserRequested, NewerRequestInitiated).
// endTimeUtc is per port, not per request.
type jitPolicy struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties struct {
		VirtualMachines []struct {
			ID    string `json:"id"`
			Ports []struct {
				Number                       int      `json:"number"`
				Protocol                     string   `json:"protocol"`
				AllowedSourceAddressPrefix   string   `json:"allowedSourceAddressPrefix"`
				AllowedSourceAddressPrefixes []string `json:"allowedSourceAddressPrefixes"`
				MaxRequestAccessDuration     string   `json:"maxRequestAccessDuration"`
			} `json:"ports"`
		} `json:"virtualMachines"`
		Requests []struct {
			VirtualMachines []struct {
				ID    string `json:"id"`
				Ports []struct {
					Number                       int      `json:"number"`
					AllowedSourceAddressPrefix   string   `json:"allowedSourceAddressPrefix"`
					AllowedSourceAddressPrefixes []string `json:"allowedSourceAddressPrefixes"`
					EndTimeUtc                   string   `json:"endTimeUtc"`
					Status                       string   `json:"status"`
					StatusReason                 string   `json:"statusReason"`
				} `json:"ports"`
			} `json:"virtualMachines"`
			StartTimeUtc  string `json:"startTimeUtc"`
			Requestor     string `json:"requestor"`
			Justification string `json:"justification"`
		} `json:"requests"`
	} `json:"properties"`
}

// jitPortGrant is one port of one VM in one request: the unit a JIT grant is.
type jitPortGrant struct {
	Key           string // stable ID of request + VM + port (the verdicts' GrantID)
	PolicyID      string
	PolicyName    string
	VM            string
	Port          int
	Sources       []string
	Start, End    time.Time
	Requestor     string
	Justification string
	Status        string
	StatusReason  string
	SupersededBy  *jitPortGrant // a later request for the same VM and port
}

// jitConfigPort is one port of one VM as the policy lets it be requested.
type jitConfigPort struct {
	Key         string
	PolicyID    string
	PolicyName  string
	VM          string
	Port        int
	MaxDuration time.Duration
	Written     string // maxRequestAccessDuration as ARM wrote it
}

func parseJITPolicy(r *guard.Resource) (*jitPolicy, bool) {
	if r == nil || r.Deleted || !accessIs(accessTypeOf(r), TypeJITPolicy) {
		return nil, false
	}
	var p jitPolicy
	if !accessDecode(r.Body, &p) {
		return nil, false
	}
	if p.ID == "" {
		p.ID = r.ID
	}
	if p.Name == "" {
		p.Name = accessName(p.ID)
	}
	return &p, true
}

// jitGrantKey identifies one port of one VM in one request. A request has no ID
// of its own in the API; it is told apart by its start time and requestor.
func jitGrantKey(policyID, vm string, port int, start time.Time, startWritten, requestor string) string {
	s := startWritten
	if !start.IsZero() {
		s = start.UTC().Format(time.RFC3339Nano)
	}
	return "jit-" + accessHash("jit-request", guard.IDKey(policyID), guard.IDKey(vm), accessItoa(port), s,
		strings.ToLower(strings.TrimSpace(requestor)))
}

func jitConfigKey(policyID, vm string, port int) string {
	return "jit-config-" + accessHash("jit-config", guard.IDKey(policyID), guard.IDKey(vm), accessItoa(port))
}

// requestPorts flattens the policy's requests into port grants, oldest first, and
// marks each one a later request for the same VM and port supersedes (JIT then
// reports the older one Revoked, NewerRequestInitiated, and the NSG rule that
// remains belongs to the newer one).
func (p *jitPolicy) requestPorts() []*jitPortGrant {
	var out []*jitPortGrant
	for _, rq := range p.Properties.Requests {
		start, _ := accessTime(rq.StartTimeUtc)
		for _, vm := range rq.VirtualMachines {
			if strings.TrimSpace(vm.ID) == "" {
				continue
			}
			for _, pt := range vm.Ports {
				end, _ := accessTime(pt.EndTimeUtc)
				srcs := accessNonEmpty(append([]string{pt.AllowedSourceAddressPrefix}, pt.AllowedSourceAddressPrefixes...))
				out = append(out, &jitPortGrant{
					Key:      jitGrantKey(p.ID, vm.ID, pt.Number, start, rq.StartTimeUtc, rq.Requestor),
					PolicyID: p.ID, PolicyName: p.Name, VM: vm.ID, Port: pt.Number, Sources: srcs,
					Start: start, End: end, Requestor: rq.Requestor, Justification: rq.Justification,
					Status: pt.Status, StatusReason: pt.StatusReason,
				})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	for i, g := range out {
		for _, later := range out[i+1:] {
			if later.Port == g.Port && guard.SameID(later.VM, g.VM) && later.Start.After(g.Start) {
				g.SupersededBy = later // the newest wins, as the loop runs oldest to newest
			}
		}
	}
	return out
}

func (p *jitPolicy) configPorts() []jitConfigPort {
	var out []jitConfigPort
	for _, vm := range p.Properties.VirtualMachines {
		if strings.TrimSpace(vm.ID) == "" {
			continue
		}
		for _, pt := range vm.Ports {
			d, err := guard.ParseDuration(pt.MaxRequestAccessDuration)
			if err != nil {
				continue
			}
			out = append(out, jitConfigPort{Key: jitConfigKey(p.ID, vm.ID, pt.Number), PolicyID: p.ID, PolicyName: p.Name,
				VM: vm.ID, Port: pt.Number, MaxDuration: d, Written: pt.MaxRequestAccessDuration})
		}
	}
	return out
}

// jitSources names a grant's sources for a sentence.
func jitSources(sources []string) string {
	if len(sources) == 0 {
		return "any source"
	}
	return strings.Join(sources, ", ")
}

// revoked reports whether JIT itself says the port was closed.
func (g *jitPortGrant) revoked() bool {
	return strings.EqualFold(strings.TrimSpace(g.Status), "Revoked")
}

func (g *jitPortGrant) facts() map[string]any {
	m := map[string]any{"jitPolicyId": g.PolicyID, "virtualMachineId": g.VM, "port": g.Port,
		"allowedSourceAddressPrefixes": g.Sources, "requestor": g.Requestor,
		"startTimeUtc": accessStamp(g.Start), "endTimeUtc": accessStamp(g.End)}
	if g.Justification != "" {
		m["justification"] = g.Justification
	}
	if g.Status != "" {
		m["jitStatus"] = g.Status
	}
	if g.StatusReason != "" {
		m["jitStatusReason"] = g.StatusReason
	}
	if !g.Start.IsZero() && !g.End.IsZero() {
		m["duration"] = accessDur(g.End.Sub(g.Start))
	}
	return m
}

// jitDefaultPolicyID is where Defender for Cloud keeps the JIT policy of a VM
// when it is enabled from the portal or with Set-AzJitNetworkAccessPolicy: in the
// VM's resource group, at the VM's location, named "default" (the cmdlet's
// documented example, Az.Security Set-AzJitNetworkAccessPolicy; S16's example
// policy .../myRg1/providers/Microsoft.Security/locations/westeurope/
// jitNetworkAccessPolicies/default for vm1 in myRg1).
func jitDefaultPolicyID(vm *guard.Resource) string {
	sub, rg := guard.SubscriptionOf(vm.ID), accessSegment(vm.ID, "resourceGroups")
	loc := region.Normalize(vm.Location)
	if sub == "" || rg == "" || loc == "" {
		return ""
	}
	return "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Security/locations/" + loc +
		"/jitNetworkAccessPolicies/default"
}

// jitDetails is what a JIT grant carries for the sweep's check.
type jitDetails struct {
	Key           string    `json:"key"`
	PolicyID      string    `json:"jitPolicyId"`
	VM            string    `json:"virtualMachineId"`
	Port          int       `json:"port"`
	Sources       []string  `json:"allowedSourceAddressPrefixes"`
	Requestor     string    `json:"requestor"`
	Justification string    `json:"justification,omitempty"`
	Start         time.Time `json:"startTimeUtc"`
	End           time.Time `json:"endTimeUtc"`
	Grace         string    `json:"grace,omitempty"`
	MaxDuration   string    `json:"maxDuration,omitempty"`
}

func (g *jitPortGrant) details(extra func(*jitDetails)) json.RawMessage {
	d := jitDetails{Key: g.Key, PolicyID: g.PolicyID, VM: g.VM, Port: g.Port, Sources: g.Sources,
		Requestor: g.Requestor, Justification: g.Justification, Start: g.Start, End: g.End}
	if extra != nil {
		extra(&d)
	}
	b, _ := json.Marshal(d)
	return b
}

// ---------------------------------------------------------------------------
// access.jit-window

// JITWindow is access.jit-window: a JIT grant requested for longer than the
// policy's rules.access.jit-window.maxDuration. It judges each port of each VM
// of each request (endTimeUtc − startTimeUtc), and each port the JIT policy lets
// be requested (maxRequestAccessDuration), and reports on the VM.
//
// A request found too long is open while its window runs; it resolves when the
// window ends (a grant the sweep checks at endTimeUtc), when JIT revokes it, or
// when a newer request for the port replaces it; from then on access.jit-overstay
// watches that the port is really closed. A JIT policy that allows requests
// longer than maxDuration is open until the policy is changed.
type JITWindow struct{}

func (JITWindow) ID() string              { return guard.RuleJITWindow }
func (JITWindow) Applies(typ string) bool { return accessIs(typ, TypeJITPolicy) }
func (JITWindow) GrantKind() string       { return GrantKindJIT }

func jitWindowGrantID(key string) string   { return guard.RuleJITWindow + "/" + key }
func jitOverstayGrantID(key string) string { return guard.RuleJITOverstay + "/" + key }

// jitPort names a port for a sentence ("port 22"; "Port 22" to start one).
func jitPort(port int, capital bool) string {
	if capital {
		return "Port " + accessItoa(port)
	}
	return "port " + accessItoa(port)
}

// jitISO writes a whole duration as the ISO 8601 JIT policies use (3h: PT3H).
func jitISO(d time.Duration) string { return "PT" + strings.ToUpper(accessDur(d)) }

func (r JITWindow) Evaluate(in guard.Input) []guard.Verdict {
	limit := accessMaxDuration(in.Policy)
	p, ok := parseJITPolicy(in.Resource)
	if !ok || limit <= 0 {
		return nil
	}
	var out []guard.Verdict
	// What the policy lets people request.
	current := map[string]bool{}
	for _, c := range p.configPorts() {
		current[c.Key] = true
		ev := map[string]any{"jitPolicyId": c.PolicyID, "virtualMachineId": c.VM, "port": c.Port,
			"maxRequestAccessDuration": c.Written, "maxDuration": accessDur(limit)}
		v := guard.Verdict{Rule: r.ID(), ResourceID: c.VM, GrantID: c.Key, Evidence: ev}
		if c.MaxDuration > limit {
			v.Violation = true
			v.Message = fmt.Sprintf("JIT policy %s lets %s on VM %s be opened for up to %s, longer than the %s allowed.",
				c.PolicyName, jitPort(c.Port, false), accessName(c.VM), accessDur(c.MaxDuration), accessDur(limit))
			v.Action = fmt.Sprintf("set maxRequestAccessDuration of %s for %s in JIT policy %s to %s or less",
				jitPort(c.Port, false), accessName(c.VM), c.PolicyName, jitISO(limit))
		} else {
			v.Message = fmt.Sprintf("JIT policy %s lets %s on VM %s be opened for at most %s, within the %s allowed.",
				c.PolicyName, jitPort(c.Port, false), accessName(c.VM), accessDur(c.MaxDuration), accessDur(limit))
		}
		out = append(out, v)
	}
	if prev, ok := parseJITPolicy(in.Previous); ok {
		for _, c := range prev.configPorts() {
			if current[c.Key] {
				continue
			}
			out = append(out, guard.Verdict{Rule: r.ID(), ResourceID: c.VM, GrantID: c.Key,
				Message:  fmt.Sprintf("JIT policy %s no longer lets %s on VM %s be requested.", c.PolicyName, jitPort(c.Port, false), accessName(c.VM)),
				Evidence: map[string]any{"jitPolicyId": c.PolicyID, "virtualMachineId": c.VM, "port": c.Port, "removedFromPolicy": true}})
		}
	}
	// What was requested.
	for _, g := range p.requestPorts() {
		if g.Start.IsZero() || g.End.IsZero() {
			continue
		}
		ev := g.facts()
		ev["maxDuration"] = accessDur(limit)
		v := guard.Verdict{Rule: r.ID(), ResourceID: g.VM, GrantID: g.Key, Evidence: ev}
		d := g.End.Sub(g.Start)
		switch {
		case d <= limit:
			v.Message = fmt.Sprintf("JIT request by %s opened %s on VM %s for %s, within the %s allowed.",
				g.Requestor, jitPort(g.Port, false), accessName(g.VM), accessDur(d), accessDur(limit))
		case g.SupersededBy != nil:
			ev["supersededByStartTimeUtc"] = accessStamp(g.SupersededBy.Start)
			v.Message = fmt.Sprintf("The %s JIT window by %s for %s on VM %s was replaced by a newer request at %s.",
				accessDur(d), g.Requestor, jitPort(g.Port, false), accessName(g.VM), g.SupersededBy.Start.Format(time.RFC3339))
		case g.revoked():
			v.Message = fmt.Sprintf("The %s JIT window by %s for %s on VM %s was revoked (%s).",
				accessDur(d), g.Requestor, jitPort(g.Port, false), accessName(g.VM), g.StatusReason)
		case !in.Now.Before(g.End):
			v.Message = fmt.Sprintf("The %s JIT window by %s for %s on VM %s ended at %s.",
				accessDur(d), g.Requestor, jitPort(g.Port, false), accessName(g.VM), g.End.Format(time.RFC3339))
		default:
			v.Violation = true
			v.Message = fmt.Sprintf("JIT request by %s opened %s on VM %s to %s for %s, longer than the %s allowed.",
				g.Requestor, jitPort(g.Port, false), accessName(g.VM), jitSources(g.Sources), accessDur(d), accessDur(limit))
			v.Action = fmt.Sprintf("close %s on %s now (remove its SecurityCenter-JITRule allow rule) and set maxRequestAccessDuration of %s for %s in JIT policy %s to %s or less",
				jitPort(g.Port, false), accessName(g.VM), jitPort(g.Port, false), accessName(g.VM), g.PolicyName, jitISO(limit))
		}
		out = append(out, v)
	}
	return out
}

// Deleted resolves what a deleted JIT policy let be requested: its findings
// are on the VMs, which the deletion does not close. Requests found too long
// are left to their grants, which end with their windows: deleting the policy
// is not known to close a port JIT opened (access.jit-overstay checks the NSGs
// at the window's end either way).
func (r JITWindow) Deleted(in guard.Input) []guard.Verdict {
	prev, ok := parseJITPolicy(in.Previous)
	if !ok {
		return nil
	}
	var out []guard.Verdict
	for _, c := range prev.configPorts() {
		out = append(out, guard.Verdict{Rule: r.ID(), ResourceID: c.VM, GrantID: c.Key,
			Message: fmt.Sprintf("JIT policy %s was deleted: %s on VM %s can no longer be requested through it.",
				c.PolicyName, jitPort(c.Port, false), accessName(c.VM)),
			Evidence: map[string]any{"jitPolicyId": c.PolicyID, "virtualMachineId": c.VM, "port": c.Port, "policyDeleted": true}})
	}
	return out
}

// Grants lists, for every request found too long whose window still runs, a
// grant due at the window's end: the sweep then resolves the finding (the
// overstay, if any, is access.jit-overstay's to report).
func (r JITWindow) Grants(in guard.Input) []guard.Grant {
	limit := accessMaxDuration(in.Policy)
	p, ok := parseJITPolicy(in.Resource)
	if !ok || limit <= 0 {
		return nil
	}
	var out []guard.Grant
	for _, g := range p.requestPorts() {
		if g.Start.IsZero() || g.End.IsZero() || g.End.Sub(g.Start) <= limit || g.SupersededBy != nil || g.revoked() || !in.Now.Before(g.End) {
			continue
		}
		out = append(out, guard.Grant{ID: jitWindowGrantID(g.Key), Kind: GrantKindJIT, ResourceID: g.VM,
			Start: g.Start, End: g.End,
			Details: g.details(func(d *jitDetails) { d.MaxDuration = accessDur(limit) })})
	}
	return out
}

// CheckGrant runs when an over-long window has ended: the request no longer
// grants anything, so its finding resolves.
func (r JITWindow) CheckGrant(g guard.Grant, in guard.Input) []guard.Verdict {
	var d jitDetails
	_ = json.Unmarshal(g.Details, &d)
	key := d.Key
	if key == "" {
		key = strings.TrimPrefix(g.ID, guard.RuleJITWindow+"/")
	}
	end := d.End
	if end.IsZero() {
		end = g.End
	}
	return []guard.Verdict{{Rule: r.ID(), ResourceID: g.ResourceID, GrantID: key,
		Message: fmt.Sprintf("The over-long JIT window by %s for %s on VM %s ended at %s.",
			d.Requestor, jitPort(d.Port, false), accessName(g.ResourceID), end.Format(time.RFC3339)),
		Evidence: map[string]any{"jitPolicyId": d.PolicyID, "port": d.Port, "requestor": d.Requestor,
			"endTimeUtc": accessStamp(end), "windowEnded": true}}}
}

// ---------------------------------------------------------------------------
// access.jit-overstay, JIT

// JITOverstay is access.jit-overstay for Defender for Cloud JIT: after a
// request's endTimeUtc plus the policy's grace, no NSG on the VM's path may still
// admit the request's source to its port. The JIT policy lists the grants (one
// per port of each VM of each request); the sweep checks each when due, reading
// the VM, its NICs, their NSGs and subnets, and the subnets' NSGs.
type JITOverstay struct{}

func (JITOverstay) ID() string              { return guard.RuleJITOverstay }
func (JITOverstay) Applies(typ string) bool { return accessIs(typ, TypeJITPolicy) }
func (JITOverstay) GrantKind() string       { return GrantKindJIT }

// Evaluate has nothing to say about the policy itself: nothing is late until a
// grant's end, and the sweep checks grants then.
func (JITOverstay) Evaluate(guard.Input) []guard.Verdict { return nil }

// Related gathers, for a VM (the resource of a JIT grant), its network path and
// the JIT policy at its default place, whose request statuses are evidence too.
// For the JIT policy itself nothing is gathered.
func (JITOverstay) Related(res *guard.Resource, have map[string]*guard.Resource) []string {
	if res == nil || !accessIs(accessTypeOf(res), accessTypeVM) {
		return nil
	}
	out := accessVMRelated(res, have)
	if id := jitDefaultPolicyID(res); id != "" {
		out = append(out, id)
	}
	return out
}

// Grants lists one grant per port of each VM of each request, due at the port's
// endTimeUtc plus the grace. A request a later one replaced for the same VM and
// port is left out: the NSG rule that remains is the later request's.
func (r JITOverstay) Grants(in guard.Input) []guard.Grant {
	p, ok := parseJITPolicy(in.Resource)
	if !ok {
		return nil
	}
	grace := accessGrace(in.Policy)
	var out []guard.Grant
	for _, g := range p.requestPorts() {
		if g.End.IsZero() || g.SupersededBy != nil {
			continue
		}
		out = append(out, guard.Grant{ID: jitOverstayGrantID(g.Key), Kind: GrantKindJIT, ResourceID: g.VM,
			Start: g.Start, End: g.End.Add(grace),
			Details: g.details(func(d *jitDetails) { d.Grace = accessDur(grace) })})
	}
	return out
}

// CheckGrant judges a JIT grant after its end plus grace: compliant when the VM
// is gone or no NSG on its path admits the grant's source to its port any more;
// a violation naming the NSG and rule that still do.
func (r JITOverstay) CheckGrant(g guard.Grant, in guard.Input) []guard.Verdict {
	var d jitDetails
	_ = json.Unmarshal(g.Details, &d)
	if d.Key == "" {
		d.Key = strings.TrimPrefix(g.ID, guard.RuleJITOverstay+"/")
	}
	if d.End.IsZero() {
		d.End = g.End
	}
	vmName := accessName(g.ResourceID)
	ev := map[string]any{"jitPolicyId": d.PolicyID, "virtualMachineId": g.ResourceID, "port": d.Port,
		"allowedSourceAddressPrefixes": d.Sources, "requestor": d.Requestor, "startTimeUtc": accessStamp(d.Start),
		"endTimeUtc": accessStamp(d.End), "grace": d.Grace, "mustBeClosedBy": accessStamp(g.End)}
	v := guard.Verdict{Rule: r.ID(), ResourceID: g.ResourceID, GrantID: d.Key, Evidence: ev}
	if in.Resource == nil || in.Resource.Deleted {
		ev["virtualMachineDeleted"] = true
		v.Message = fmt.Sprintf("VM %s no longer exists, so its JIT %s grant for %s is gone.", vmName, jitPort(d.Port, false), d.Requestor)
		return []guard.Verdict{v}
	}

	// The JIT policy, when it was gathered: its view of this request.
	var policyStatus string
	if p, ok := parseJITPolicy(accessLive(in, d.PolicyID)); ok {
		for _, pg := range p.requestPorts() {
			if pg.Key != d.Key {
				continue
			}
			policyStatus = pg.Status
			ev["jitStatus"], ev["jitStatusReason"] = pg.Status, pg.StatusReason
			if pg.SupersededBy != nil {
				ev["supersededByStartTimeUtc"] = accessStamp(pg.SupersededBy.Start)
				ev["supersededByRequestor"] = pg.SupersededBy.Requestor
				v.Message = fmt.Sprintf("The JIT grant for %s on VM %s was replaced by a newer request by %s at %s; any rule still open is that request's.",
					jitPort(d.Port, false), vmName, pg.SupersededBy.Requestor, pg.SupersededBy.Start.Format(time.RFC3339))
				return []guard.Verdict{v}
			}
		}
	}

	net := accessNetworkOf(in)
	var examined []string
	var open []accessOpenRule
	for _, nsg := range net.NSGs {
		examined = append(examined, nsg.ID)
		open = append(open, nsg.openRules(d.Port, d.Sources, net.PrivateIPs)...)
	}
	ev["nsgsExamined"] = examined
	if len(net.Unread) > 0 {
		ev["unreadable"] = net.Unread
	}
	if len(open) > 0 {
		first := open[0]
		var all []map[string]any
		for _, o := range open {
			all = append(all, o.facts())
		}
		ev["nsgId"], ev["ruleName"], ev["ruleId"], ev["jitRule"] = first.NSG, first.Rule, first.RuleID, first.JIT
		ev["openRules"] = all
		v.Violation = true
		kind := "JIT rule"
		if !first.JIT {
			kind = "rule"
		}
		v.Message = fmt.Sprintf("%s on VM %s is still open to %s through NSG %s %s %s, though the JIT window requested by %s ended at %s (grace %s).",
			jitPort(d.Port, true), vmName, jitSources(d.Sources),
			accessName(first.NSG), kind, first.Rule, d.Requestor, d.End.Format(time.RFC3339), d.Grace)
		if first.JIT {
			v.Action = fmt.Sprintf("remove NSG rule %s from %s", first.Rule, accessName(first.NSG))
		} else {
			v.Action = fmt.Sprintf("remove or narrow NSG rule %s in %s, which admits %s to %s", first.Rule, accessName(first.NSG),
				jitSources(d.Sources), jitPort(d.Port, false))
		}
		return []guard.Verdict{v}
	}
	if len(examined) == 0 && strings.EqualFold(policyStatus, "Initiated") && !in.Now.Before(g.End) {
		v.Violation = true
		v.Message = fmt.Sprintf("JIT still reports %s on VM %s initiated for %s though its window ended at %s (grace %s), and no NSG on the VM's path could be read to show it closed.",
			jitPort(d.Port, false), vmName, d.Requestor, d.End.Format(time.RFC3339), d.Grace)
		v.Action = fmt.Sprintf("close %s on %s: remove the JIT allow rule from its network security group", jitPort(d.Port, false), vmName)
		return []guard.Verdict{v}
	}
	if strings.EqualFold(policyStatus, "Initiated") {
		ev["note"] = "JIT still reports the port initiated, but no NSG on the VM's path admits the source"
	}
	v.Message = fmt.Sprintf("%s on VM %s is closed to %s after the JIT window requested by %s ended at %s.",
		jitPort(d.Port, true), vmName, jitSources(d.Sources), d.Requestor, d.End.Format(time.RFC3339))
	return []guard.Verdict{v}
}
