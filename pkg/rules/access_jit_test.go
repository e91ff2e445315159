package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The spec's JIT policy (S16): vm1 in myRg1, ports 22 and 3389 requestable for
// PT3H, one request by barbara@contoso.com for 3389 from 192.127.0.2, from
// 08:06:45.5691611Z to 09:06:45.5691611Z on 2018-05-17, status Initiated.
const (
	specSub       = "20ff7fc3-e762-44dd-bd96-b71116dcdc23"
	specVM        = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Compute/virtualMachines/vm1"
	specJITPolicy = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Security/locations/westeurope/jitNetworkAccessPolicies/default"
	specNIC       = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Network/networkInterfaces/vm1-nic"
	specNICNSG    = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Network/networkSecurityGroups/vm1-nsg"
	specSubnet    = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Network/virtualNetworks/myRg1-vnet/subnets/default"
	specSubnetNSG = "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Network/networkSecurityGroups/subnet-nsg"
)

func jitSpecPolicy(t *testing.T) map[string]any { return accessDoc(t, "jit_policy_get.json") }

// jitRequest returns the first request of a policy body.
func jitRequest(p map[string]any) map[string]any {
	return accessArr(p, "properties", "requests")[0].(map[string]any)
}

func jitRequestPort(rq map[string]any) map[string]any {
	vm := accessArr(rq, "virtualMachines")[0].(map[string]any)
	return accessArr(vm, "ports")[0].(map[string]any)
}

func TestJITWindowSpecPolicyIsWithinThreeHours(t *testing.T) {
	pol := accessTestPolicy(3*time.Hour, 5*time.Minute)
	res := accessRes(t, jitSpecPolicy(t), time.Time{})
	vs := JITWindow{}.Evaluate(guard.Input{Policy: pol, Resource: res, Now: accessMustTime(t, "2018-05-17T08:30:00Z")})
	if len(vs) != 3 {
		t.Fatalf("got %d verdicts, want 3 (two configured ports, one requested): %+v", len(vs), vs)
	}
	grants := map[string]bool{}
	for _, v := range vs {
		if v.Violation {
			t.Errorf("violation %q: the spec policy allows PT3H and the request is 1h", v.Message)
		}
		if v.Rule != guard.RuleJITWindow || !guard.SameID(v.ResourceID, specVM) {
			t.Errorf("verdict %s on %s, want access.jit-window on vm1", v.Rule, v.ResourceID)
		}
		if v.GrantID == "" || grants[v.GrantID] {
			t.Errorf("GrantID %q is empty or repeated", v.GrantID)
		}
		grants[v.GrantID] = true
	}
	req := accessByGrant(vs)[jitGrantKey(specJITPolicy, specVM, 3389, accessMustTime(t, "2018-05-17T08:06:45.5691611Z"), "", "barbara@contoso.com")]
	if req.Message == "" || req.Evidence["duration"] != "1h" || req.Evidence["requestor"] != "barbara@contoso.com" {
		t.Errorf("request verdict %+v: want duration 1h by barbara@contoso.com", req)
	}
}

func TestJITWindowOverLongRequest(t *testing.T) {
	pol := accessTestPolicy(30*time.Minute, 5*time.Minute)
	start := accessMustTime(t, "2018-05-17T08:06:45.5691611Z")
	key := jitGrantKey(specJITPolicy, specVM, 3389, start, "", "barbara@contoso.com")
	tests := []struct {
		name          string
		now           string
		vary          func(p map[string]any)
		wantViolation bool
		wantIn        string
	}{
		{"running", "2018-05-17T08:30:00Z", nil, true, "longer than the 30m allowed"},
		{"ended", "2018-05-17T09:06:45.5691611Z", nil, false, "ended at 2018-05-17T09:06:45Z"},
		{"revoked by JIT", "2018-05-17T08:30:00Z", func(p map[string]any) {
			pt := jitRequestPort(jitRequest(p))
			pt["status"], pt["statusReason"] = "Revoked", "UserRequested"
		}, false, "was revoked (UserRequested)"},
		{"replaced by a newer request", "2018-05-17T08:30:00Z", func(p map[string]any) {
			later := map[string]any{"virtualMachines": []any{map[string]any{"id": strings.ToUpper(specVM), "ports": []any{
				map[string]any{"number": 3389, "allowedSourceAddressPrefix": "192.127.0.2", "endTimeUtc": "2018-05-17T08:45:00Z", "status": "Initiated", "statusReason": "UserRequested"}}}},
				"startTimeUtc": "2018-05-17T08:25:00Z", "requestor": "carol@contoso.com"}
			p["properties"].(map[string]any)["requests"] = append(accessArr(p, "properties", "requests"), later)
		}, false, "replaced by a newer request at 2018-05-17T08:25:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := jitSpecPolicy(t)
			if tt.vary != nil {
				tt.vary(p)
			}
			in := guard.Input{Policy: pol, Resource: accessRes(t, p, time.Time{}), Now: accessMustTime(t, tt.now)}
			v, ok := accessByGrant(JITWindow{}.Evaluate(in))[key]
			if !ok {
				t.Fatalf("no verdict for the request")
			}
			if v.Violation != tt.wantViolation || !strings.Contains(v.Message, tt.wantIn) {
				t.Errorf("Violation=%v %q, want %v containing %q", v.Violation, v.Message, tt.wantViolation, tt.wantIn)
			}
			if v.Violation {
				for _, k := range []string{"requestor", "port", "allowedSourceAddressPrefixes", "startTimeUtc", "endTimeUtc", "duration", "maxDuration"} {
					if _, ok := v.Evidence[k]; !ok {
						t.Errorf("evidence lacks %s: %v", k, v.Evidence)
					}
				}
				if !strings.Contains(v.Action, "set maxRequestAccessDuration of port 3389 for vm1 in JIT policy default to PT30M or less") {
					t.Errorf("Action %q", v.Action)
				}
			}
			grants := JITWindow{}.Grants(in)
			if tt.wantViolation != (len(grants) == 1) {
				t.Fatalf("grants %+v: want one timer exactly while the over-long window runs", grants)
			}
			if len(grants) == 1 {
				g := grants[0]
				if !g.End.Equal(accessMustTime(t, "2018-05-17T09:06:45.5691611Z")) || g.Kind != GrantKindJIT || !guard.SameID(g.ResourceID, specVM) {
					t.Errorf("timer %+v: want due at endTimeUtc on vm1", g)
				}
				cv := JITWindow{}.CheckGrant(g, guard.Input{Policy: pol, Resource: accessRes(t, accessDoc(t, "vm_get.json"), time.Time{}), Now: g.End})
				if len(cv) != 1 || cv[0].Violation || cv[0].GrantID != key || !guard.SameID(cv[0].ResourceID, specVM) {
					t.Errorf("CheckGrant = %+v, want a compliant verdict for the same grant on vm1", cv)
				}
			}
		})
	}
}

func TestJITWindowConfiguredMaximum(t *testing.T) {
	pol := accessTestPolicy(2*time.Hour, 0)
	p := jitSpecPolicy(t)
	res := accessRes(t, p, time.Time{})
	vs := accessByGrant(JITWindow{}.Evaluate(guard.Input{Policy: pol, Resource: res, Now: accessMustTime(t, "2018-05-17T10:00:00Z")}))
	cfg := vs[jitConfigKey(specJITPolicy, specVM, 22)]
	if !cfg.Violation || !strings.Contains(cfg.Message, "lets port 22 on VM vm1 be opened for up to 3h, longer than the 2h allowed") ||
		cfg.Action != "set maxRequestAccessDuration of port 22 for vm1 in JIT policy default to PT2H or less" {
		t.Errorf("config verdict %+v", cfg)
	}
	// The administrator lowers port 22 to PT2H and drops port 3389 from the policy.
	prev := res
	vm := accessArr(p, "properties", "virtualMachines")[0].(map[string]any)
	port22 := accessArr(vm, "ports")[0].(map[string]any)
	port22["maxRequestAccessDuration"] = "PT2H"
	vm["ports"] = []any{port22}
	vs = accessByGrant(JITWindow{}.Evaluate(guard.Input{Policy: pol, Resource: accessRes(t, p, time.Time{}), Previous: prev,
		Now: accessMustTime(t, "2018-05-17T10:00:00Z")}))
	if v := vs[jitConfigKey(specJITPolicy, specVM, 22)]; v.Violation || v.Message == "" {
		t.Errorf("port 22 at PT2H: %+v, want compliant", v)
	}
	if v := vs[jitConfigKey(specJITPolicy, specVM, 3389)]; v.Violation || !strings.Contains(v.Message, "no longer lets port 3389") {
		t.Errorf("port 3389 removed: %+v, want a compliant verdict that resolves its finding", v)
	}
}

// Deleting a JIT policy resolves what it let be requested (those findings are
// on the VM, which the deletion does not close); its requests are left to
// their grants.
func TestJITWindowDeletedPolicy(t *testing.T) {
	pol := accessTestPolicy(2*time.Hour, 0)
	prev := accessRes(t, jitSpecPolicy(t), time.Time{})
	gone := &guard.Resource{ID: specJITPolicy, Type: TypeJITPolicy, Deleted: true}
	vs := JITWindow{}.Deleted(guard.Input{Policy: pol, Resource: gone, Previous: prev})
	if len(vs) != 2 {
		t.Fatalf("got %d verdicts, want one per configured port (22, 3389): %+v", len(vs), vs)
	}
	for _, port := range []int{22, 3389} {
		v, ok := accessByGrant(vs)[jitConfigKey(specJITPolicy, specVM, port)]
		switch {
		case !ok:
			t.Errorf("port %d: no verdict", port)
		case v.Violation || v.Rule != guard.RuleJITWindow || !guard.SameID(v.ResourceID, specVM) ||
			v.Evidence["policyDeleted"] != true || v.Evidence["port"] != port ||
			!strings.Contains(v.Message, fmt.Sprintf("JIT policy default was deleted: port %d on VM vm1 can no longer be requested", port)):
			t.Errorf("port %d: %+v, want a compliant verdict on the VM that the policy was deleted", port, v)
		}
	}
	for name, prev := range map[string]*guard.Resource{"never seen": nil, "already deleted": gone} {
		if vs := (JITWindow{}).Deleted(guard.Input{Policy: pol, Resource: gone, Previous: prev}); len(vs) != 0 {
			t.Errorf("%s: %d verdicts, want none", name, len(vs))
		}
	}
}

func TestJITWindowSaysNothingWithoutALimitOrAPolicy(t *testing.T) {
	res := accessRes(t, jitSpecPolicy(t), time.Time{})
	if vs := (JITWindow{}).Evaluate(guard.Input{Policy: accessTestPolicy(0, 0), Resource: res}); len(vs) != 0 {
		t.Errorf("no maxDuration: got %d verdicts", len(vs))
	}
	for _, body := range []string{`{}`, `[1]`, `not json`, `{"id":"x","properties":{"requests":"oops"}}`} {
		r := &guard.Resource{ID: specJITPolicy, Type: TypeJITPolicy, Body: json.RawMessage(body)}
		in := guard.Input{Policy: accessTestPolicy(time.Hour, 0), Resource: r}
		if vs := (JITWindow{}).Evaluate(in); len(vs) != 0 {
			t.Errorf("body %s: %d verdicts", body, len(vs))
		}
		if gs := (JITOverstay{}).Grants(in); len(gs) != 0 {
			t.Errorf("body %s: %d grants", body, len(gs))
		}
	}
	if !(JITWindow{}).Applies("microsoft.security/locations/JITNETWORKACCESSPOLICIES") || (JITWindow{}).Applies(accessTypeVM) {
		t.Error("Applies must match the JIT policy type case-insensitively, and only it")
	}
}

func TestJITGrantKeyIsStable(t *testing.T) {
	start := accessMustTime(t, "2018-05-17T08:06:45.5691611Z")
	a := jitGrantKey(specJITPolicy, specVM, 3389, start, "", "barbara@contoso.com")
	b := jitGrantKey(strings.ToUpper(specJITPolicy), strings.ToLower(specVM)+"/", 3389, start.In(time.FixedZone("x", 3600)), "", "Barbara@Contoso.com")
	if a != b {
		t.Errorf("the same request spelled differently gives %s and %s", a, b)
	}
	if a == jitGrantKey(specJITPolicy, specVM, 22, start, "", "barbara@contoso.com") ||
		a == jitGrantKey(specJITPolicy, specVM, 3389, start.Add(time.Second), "", "barbara@contoso.com") {
		t.Error("another port or another request must give another key")
	}
}

// jitWorld is vm1's network: the spec VM, NIC, subnet and NSG bodies, renamed
// into the spec JIT policy's subscription, with the NIC's NSG given extra rules.
type jitWorld struct {
	vm, nic, subnet, nicNSG, subnetNSG map[string]any
}

func newJITWorld(t *testing.T) *jitWorld {
	w := &jitWorld{vm: accessDoc(t, "vm_get.json"), nic: accessDoc(t, "nic_get.json"), subnet: accessDoc(t, "subnet_get.json"),
		nicNSG: accessDoc(t, "nsg_get.json"), subnetNSG: accessDoc(t, "nsg_get.json")}
	w.vm["id"], w.vm["name"], w.vm["location"] = specVM, "vm1", "West Europe" // ARM may write the display name
	accessArr(w.vm, "properties", "networkProfile", "networkInterfaces")[0].(map[string]any)["id"] = specNIC
	w.nic["id"] = specNIC
	accessObj(w.nic, "properties")["networkSecurityGroup"] = map[string]any{"id": specNICNSG}
	for _, ipc := range accessArr(w.nic, "properties", "ipConfigurations") {
		accessObj(ipc, "properties")["subnet"] = map[string]any{"id": specSubnet}
	}
	w.subnet["id"] = specSubnet
	accessObj(w.subnet, "properties")["networkSecurityGroup"] = map[string]any{"id": specSubnetNSG}
	w.nicNSG["id"], w.nicNSG["name"] = specNICNSG, "vm1-nsg"
	w.subnetNSG["id"], w.subnetNSG["name"] = specSubnetNSG, "subnet-nsg"
	return w
}

// jitAllow is the allow rule JIT creates for a request (names and shape from S22
// and public NSG exports, research §4.5).
func jitAllow(name, port, source, dest string) map[string]any {
	return map[string]any{"name": name, "id": specNICNSG + "/securityRules/" + name, "properties": map[string]any{
		"description": "ASC JIT Network Access rule created by an initiation request for policy 'default' of VM 'vm1'.",
		"protocol":    "*", "sourcePortRange": "*", "destinationPortRange": port, "sourceAddressPrefix": source,
		"destinationAddressPrefix": dest, "access": "Allow", "priority": 100, "direction": "Inbound",
		"provisioningState": "Succeeded"}}
}

func jitAddRule(nsg map[string]any, rule map[string]any) {
	props := accessObj(nsg, "properties")
	props["securityRules"] = append(accessArr(props, "securityRules"), rule)
}

func (w *jitWorld) resources(t *testing.T, extra ...*guard.Resource) map[string]*guard.Resource {
	rs := []*guard.Resource{accessRes(t, w.vm, time.Time{}), accessRes(t, w.nic, time.Time{}), accessRes(t, w.subnet, time.Time{}),
		accessRes(t, w.nicNSG, time.Time{}), accessRes(t, w.subnetNSG, time.Time{})}
	return accessWorld(append(rs, extra...)...)
}

const jitRuleName = "SecurityCenter-JITRule-1170687618-8C18BF8921F041989344B4F1E3A0C370"

func TestJITOverstayGrantsAndGathering(t *testing.T) {
	pol := accessTestPolicy(3*time.Hour, 5*time.Minute)
	policy := accessRes(t, jitSpecPolicy(t), time.Time{})
	gs := JITOverstay{}.Grants(guard.Input{Policy: pol, Resource: policy, Now: accessMustTime(t, "2018-05-17T08:07:00Z")})
	if len(gs) != 1 {
		t.Fatalf("got %d grants, want 1", len(gs))
	}
	g := gs[0]
	if g.Kind != GrantKindJIT || !guard.SameID(g.ResourceID, specVM) || !g.End.Equal(accessMustTime(t, "2018-05-17T09:11:45.5691611Z")) ||
		!g.Start.Equal(accessMustTime(t, "2018-05-17T08:06:45.5691611Z")) || !strings.HasPrefix(g.ID, "access.jit-overstay/jit-") {
		t.Errorf("grant %+v: want kind jit on vm1, due at endTimeUtc + 5m", g)
	}
	var d jitDetails
	if err := json.Unmarshal(g.Details, &d); err != nil || d.Port != 3389 || d.Requestor != "barbara@contoso.com" ||
		len(d.Sources) != 1 || d.Sources[0] != "192.127.0.2" || !guard.SameID(d.PolicyID, specJITPolicy) || d.Grace != "5m" {
		t.Errorf("details %s (%v)", g.Details, err)
	}
	if rel := (JITOverstay{}).Related(policy, nil); len(rel) != 0 {
		t.Errorf("nothing is gathered for the policy itself, got %v", rel)
	}
	w := newJITWorld(t)
	world := w.resources(t, policy)
	have := accessGather(JITOverstay{}, world[guard.IDKey(specVM)], world)
	for _, id := range []string{specNIC, specNICNSG, specSubnet, specSubnetNSG, specJITPolicy} {
		if r := have[guard.IDKey(id)]; r == nil || r.Deleted {
			t.Errorf("gathering vm1 did not read %s", id)
		}
	}
}

func TestJITOverstayCheck(t *testing.T) {
	pol := accessTestPolicy(3*time.Hour, 5*time.Minute)
	now := accessMustTime(t, "2018-05-17T09:15:00Z")
	tests := []struct {
		name          string
		setup         func(w *jitWorld, policy map[string]any)
		vmGone        bool
		wantViolation bool
		wantIn        string
		wantRule      string
		wantAction    string
	}{
		{name: "JIT allow rule left in the NIC NSG", wantViolation: true,
			setup: func(w *jitWorld, _ map[string]any) {
				jitAddRule(w.nicNSG, jitAllow(jitRuleName, "3389", "192.127.0.2", "172.20.2.4"))
			},
			wantIn: "Port 3389 on VM vm1 is still open to 192.127.0.2 through NSG vm1-nsg JIT rule " + jitRuleName, wantRule: jitRuleName,
			wantAction: "remove NSG rule " + jitRuleName + " from vm1-nsg"},
		{name: "rule removed in time", wantIn: "is closed to 192.127.0.2"},
		{name: "hand-made rule in the subnet NSG admits the same source", wantViolation: true,
			setup: func(w *jitWorld, _ map[string]any) {
				r := jitAllow("allow-rdp-partner", "3380-3390", "192.127.0.0/24", "*")
				accessObj(r, "properties")["priority"] = 300
				jitAddRule(w.subnetNSG, r)
			},
			wantIn: "through NSG subnet-nsg rule allow-rdp-partner", wantRule: "allow-rdp-partner",
			wantAction: "remove or narrow NSG rule allow-rdp-partner in subnet-nsg, which admits 192.127.0.2 to port 3389"},
		{name: "a neighbour's JIT rule in a shared subnet NSG", setup: func(w *jitWorld, _ map[string]any) {
			jitAddRule(w.subnetNSG, jitAllow(jitRuleName, "3389", "192.127.0.2", "172.20.2.99"))
		}},
		{name: "only JIT's standing deny rule", setup: func(w *jitWorld, _ map[string]any) {
			r := jitAllow("SecurityCenter-JITRule_-1105480617_9EF6964FE766478B9EC568B32FB82045", "3389", "*", "172.20.2.4")
			accessObj(r, "properties")["access"], accessObj(r, "properties")["priority"] = "Deny", 4096
			jitAddRule(w.nicNSG, r)
		}},
		{name: "another source only", setup: func(w *jitWorld, _ map[string]any) {
			jitAddRule(w.nicNSG, jitAllow(jitRuleName, "3389", "10.0.0.0/8", "172.20.2.4"))
		}},
		{name: "outbound and ICMP rules do not count", setup: func(w *jitWorld, _ map[string]any) {
			out := jitAllow("out", "3389", "*", "*")
			accessObj(out, "properties")["direction"] = "Outbound"
			icmp := jitAllow("icmp", "*", "*", "*")
			accessObj(icmp, "properties")["protocol"] = "Icmp"
			jitAddRule(w.nicNSG, out)
			jitAddRule(w.nicNSG, icmp)
		}},
		{name: "any-source rule on every port", wantViolation: true, setup: func(w *jitWorld, _ map[string]any) {
			r := jitAllow("AllowAnyInbound", "*", "Internet", "VirtualNetwork")
			jitAddRule(w.subnetNSG, r)
		}, wantRule: "AllowAnyInbound"},
		{name: "VM deleted", vmGone: true, setup: func(w *jitWorld, _ map[string]any) {
			jitAddRule(w.nicNSG, jitAllow(jitRuleName, "3389", "192.127.0.2", "172.20.2.4"))
		}, wantIn: "no longer exists"},
		{name: "replaced by a newer request", setup: func(w *jitWorld, policy map[string]any) {
			jitAddRule(w.nicNSG, jitAllow(jitRuleName, "3389", "192.127.0.2", "172.20.2.4"))
			later := map[string]any{"virtualMachines": []any{map[string]any{"id": specVM, "ports": []any{
				map[string]any{"number": 3389, "allowedSourceAddressPrefix": "192.127.0.2", "endTimeUtc": "2018-05-17T10:00:00Z", "status": "Initiated", "statusReason": "UserRequested"}}}},
				"startTimeUtc": "2018-05-17T09:00:00Z", "requestor": "carol@contoso.com"}
			policy["properties"].(map[string]any)["requests"] = append(accessArr(policy, "properties", "requests"), later)
		}, wantIn: "replaced by a newer request by carol@contoso.com"},
		{name: "no NSG anywhere and JIT still says Initiated", wantViolation: true, setup: func(w *jitWorld, _ map[string]any) {
			delete(accessObj(w.nic, "properties"), "networkSecurityGroup")
			delete(accessObj(w.subnet, "properties"), "networkSecurityGroup")
		}, wantIn: "JIT still reports port 3389 on VM vm1 initiated"},
		{name: "no NSG anywhere and JIT says Revoked", setup: func(w *jitWorld, policy map[string]any) {
			delete(accessObj(w.nic, "properties"), "networkSecurityGroup")
			delete(accessObj(w.subnet, "properties"), "networkSecurityGroup")
			jitRequestPort(jitRequest(policy))["status"] = "Revoked"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newJITWorld(t)
			policyBody := jitSpecPolicy(t)
			grantPolicy := accessRes(t, policyBody, time.Time{}) // the grant comes from the policy as first seen
			if tt.setup != nil {
				tt.setup(w, policyBody)
			}
			gs := JITOverstay{}.Grants(guard.Input{Policy: pol, Resource: grantPolicy, Now: accessMustTime(t, "2018-05-17T08:07:00Z")})
			if len(gs) != 1 {
				t.Fatalf("%d grants", len(gs))
			}
			world := w.resources(t, accessRes(t, policyBody, time.Time{}))
			vm := world[guard.IDKey(specVM)]
			in := guard.Input{Policy: pol, Resource: vm, Now: now}
			if tt.vmGone {
				in.Resource = &guard.Resource{ID: specVM, Type: accessTypeVM, Deleted: true}
			} else {
				in.Related = accessGather(JITOverstay{}, vm, world)
			}
			vs := JITOverstay{}.CheckGrant(gs[0], in)
			if len(vs) != 1 {
				t.Fatalf("%d verdicts", len(vs))
			}
			v := vs[0]
			if v.Rule != guard.RuleJITOverstay || !guard.SameID(v.ResourceID, specVM) ||
				v.GrantID != jitGrantKey(specJITPolicy, specVM, 3389, accessMustTime(t, "2018-05-17T08:06:45.5691611Z"), "", "barbara@contoso.com") {
				t.Errorf("verdict %s on %s grant %s, want access.jit-overstay on vm1 for the request", v.Rule, v.ResourceID, v.GrantID)
			}
			if v.Violation != tt.wantViolation {
				t.Errorf("Violation = %v, want %v: %s", v.Violation, tt.wantViolation, v.Message)
			}
			if tt.wantIn != "" && !strings.Contains(v.Message, tt.wantIn) {
				t.Errorf("message %q does not say %q", v.Message, tt.wantIn)
			}
			if tt.wantRule != "" && v.Evidence["ruleName"] != tt.wantRule {
				t.Errorf("evidence ruleName = %v, want %s", v.Evidence["ruleName"], tt.wantRule)
			}
			if tt.wantAction != "" && v.Action != tt.wantAction {
				t.Errorf("Action = %q, want %q", v.Action, tt.wantAction)
			}
			if v.Violation {
				for _, k := range []string{"port", "allowedSourceAddressPrefixes", "endTimeUtc", "grace", "mustBeClosedBy"} {
					if v.Evidence[k] == nil || v.Evidence[k] == "" {
						t.Errorf("evidence lacks %s: %v", k, v.Evidence)
					}
				}
				if tt.wantRule != "" && v.Evidence["nsgId"] == nil {
					t.Errorf("evidence names no NSG: %v", v.Evidence)
				}
			}
		})
	}
}

func TestJITOverstayLeavesOutReplacedRequests(t *testing.T) {
	p := jitSpecPolicy(t)
	later := map[string]any{"virtualMachines": []any{map[string]any{"id": specVM, "ports": []any{
		map[string]any{"number": 3389, "allowedSourceAddressPrefix": "192.127.0.2", "endTimeUtc": "2018-05-17T10:00:00Z", "status": "Initiated", "statusReason": "UserRequested"},
		map[string]any{"number": 22, "allowedSourceAddressPrefixes": []any{"192.127.0.2", "192.127.0.3"}, "endTimeUtc": "2018-05-17T10:00:00Z", "status": "Initiated", "statusReason": "UserRequested"}}}},
		"startTimeUtc": "2018-05-17T09:00:00Z", "requestor": "carol@contoso.com"}
	p["properties"].(map[string]any)["requests"] = append(accessArr(p, "properties", "requests"), later)
	jitRequestPort(jitRequest(p))["statusReason"] = "NewerRequestInitiated"
	gs := JITOverstay{}.Grants(guard.Input{Policy: accessTestPolicy(0, 0), Resource: accessRes(t, p, time.Time{})})
	if len(gs) != 2 {
		t.Fatalf("got %d grants, want carol's two ports only: %+v", len(gs), gs)
	}
	for _, g := range gs {
		var d jitDetails
		_ = json.Unmarshal(g.Details, &d)
		if d.Requestor != "carol@contoso.com" || !g.End.Equal(accessMustTime(t, "2018-05-17T10:00:00Z")) {
			t.Errorf("grant %s: %+v", g.ID, d)
		}
	}
}

func TestJITInitiateResponseIsARequest(t *testing.T) {
	// The initiate call's 202 body (S16) is the request JIT then lists; its port
	// is "Initiating" and names a VM of another subscription.
	p := jitSpecPolicy(t)
	p["properties"].(map[string]any)["requests"] = []any{accessDoc(t, "jit_initiate_response.json")}
	gs := JITOverstay{}.Grants(guard.Input{Policy: accessTestPolicy(0, time.Minute), Resource: accessRes(t, p, time.Time{})})
	if len(gs) != 1 || !strings.Contains(gs[0].ResourceID, "3eeab341-f466-499c-a8be-85427e154baf") ||
		!gs[0].End.Equal(accessMustTime(t, "2018-07-12T09:54:03.3658798Z")) {
		t.Errorf("grants %+v", gs)
	}
}

func TestJITDefaultPolicyIDUsesTheProgrammaticRegion(t *testing.T) {
	vm := &guard.Resource{ID: specVM, Location: "US Gov Virginia"}
	want := "/subscriptions/" + specSub + "/resourceGroups/myRg1/providers/Microsoft.Security/locations/usgovvirginia/jitNetworkAccessPolicies/default"
	if got := jitDefaultPolicyID(vm); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
