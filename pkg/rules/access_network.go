package rules

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sort"
	"strings"

	"github.com/exportguard/exportguard/pkg/guard"
)

// The network path to a VM, as ARM returns it (shapes from Microsoft's REST spec
// examples, copied into testdata/access and cited in its README):
//
//   - VM (Microsoft.Compute/virtualMachines, 2024-07-01, VirtualMachine_Get.json):
//     properties.networkProfile.networkInterfaces[].id
//   - NIC (Microsoft.Network/networkInterfaces, 2024-05-01, NetworkInterfaceGet.json):
//     properties.networkSecurityGroup.id, properties.ipConfigurations[].properties
//     .subnet.id and .privateIPAddress
//   - subnet (Microsoft.Network/virtualNetworks/subnets, 2024-05-01, SubnetGet.json;
//     virtualNetwork.json#/definitions/SubnetPropertiesFormat): properties.networkSecurityGroup.id
//   - NSG (Microsoft.Network/networkSecurityGroups, 2024-05-01, NetworkSecurityGroupGet.json):
//     properties.securityRules[] {name, id, properties{protocol, sourceAddressPrefix(es),
//     destinationPortRange(s), destinationAddressPrefix(es), access, priority, direction}}
//
// Inbound traffic to the VM passes the NSG of its subnet and the NSG of its NIC.

type accessRef struct {
	ID string `json:"id"`
}

type accessVM struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Location   string `json:"location"`
	Properties struct {
		NetworkProfile struct {
			NetworkInterfaces []accessRef `json:"networkInterfaces"`
		} `json:"networkProfile"`
	} `json:"properties"`
}

type accessNIC struct {
	ID         string `json:"id"`
	Properties struct {
		NetworkSecurityGroup *accessRef `json:"networkSecurityGroup"`
		IPConfigurations     []struct {
			Properties struct {
				PrivateIPAddress string     `json:"privateIPAddress"`
				Subnet           *accessRef `json:"subnet"`
			} `json:"properties"`
		} `json:"ipConfigurations"`
	} `json:"properties"`
}

type accessSubnet struct {
	ID         string `json:"id"`
	Properties struct {
		NetworkSecurityGroup *accessRef `json:"networkSecurityGroup"`
	} `json:"properties"`
}

type accessNSG struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties struct {
		SecurityRules []accessNSGRule `json:"securityRules"`
	} `json:"properties"`
}

type accessNSGRule struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	Properties struct {
		Description                          string            `json:"description"`
		Protocol                             string            `json:"protocol"`
		SourceAddressPrefix                  string            `json:"sourceAddressPrefix"`
		SourceAddressPrefixes                []string          `json:"sourceAddressPrefixes"`
		SourceApplicationSecurityGroups      []json.RawMessage `json:"sourceApplicationSecurityGroups"`
		DestinationPortRange                 string            `json:"destinationPortRange"`
		DestinationPortRanges                []string          `json:"destinationPortRanges"`
		DestinationAddressPrefix             string            `json:"destinationAddressPrefix"`
		DestinationAddressPrefixes           []string          `json:"destinationAddressPrefixes"`
		DestinationApplicationSecurityGroups []json.RawMessage `json:"destinationApplicationSecurityGroups"`
		Access                               string            `json:"access"`
		Priority                             int               `json:"priority"`
		Direction                            string            `json:"direction"`
	} `json:"properties"`
}

// jitRulePrefix starts the name of every NSG rule Defender for Cloud JIT creates:
// "SecurityCenter-JITRule-xxxxxxx-xxxx…" for the allow rule of a request,
// "SecurityCenter-JITRule_-xxxxxxx-xxxx…" for the standing deny rule (research
// §4.5, S22: Azure self-help content "jit-nsg-rules-configuration"; third-party
// NSG exports show the same names with description "ASC JIT Network Access rule
// created by an initiation request for policy 'default' of VM '<vm>'." and the
// VM's private IP as destination).
const jitRulePrefix = "SecurityCenter-JITRule"

// accessNetwork is what the rules gathered about a VM's network path.
type accessNetwork struct {
	NICs       []string     // NIC IDs the VM names
	PrivateIPs []netip.Addr // the VM's private addresses, from its NICs
	NSGs       []*accessNSG // the NSGs that could be read, NIC NSGs first
	NSGIDs     []string     // every NSG the path names, read or not
	Unread     []string     // IDs on the path that could not be read (gone, out of scope)
}

// accessVMRelated lists what to read next to know a VM's network path: its NICs,
// then their NSGs and subnets, then the subnets' NSGs.
func accessVMRelated(vm *guard.Resource, have map[string]*guard.Resource) []string {
	var v accessVM
	if !accessDecode(vm.Body, &v) {
		return nil
	}
	var out []string
	for _, n := range v.Properties.NetworkProfile.NetworkInterfaces {
		if n.ID == "" {
			continue
		}
		out = append(out, n.ID)
		nr := have[guard.IDKey(n.ID)]
		if nr == nil || nr.Deleted {
			continue
		}
		var nic accessNIC
		if !accessDecode(nr.Body, &nic) {
			continue
		}
		if g := nic.Properties.NetworkSecurityGroup; g != nil && g.ID != "" {
			out = append(out, g.ID)
		}
		for _, ipc := range nic.Properties.IPConfigurations {
			s := ipc.Properties.Subnet
			if s == nil || s.ID == "" {
				continue
			}
			out = append(out, s.ID)
			sr := have[guard.IDKey(s.ID)]
			if sr == nil || sr.Deleted {
				continue
			}
			var sub accessSubnet
			if accessDecode(sr.Body, &sub) && sub.Properties.NetworkSecurityGroup != nil && sub.Properties.NetworkSecurityGroup.ID != "" {
				out = append(out, sub.Properties.NetworkSecurityGroup.ID)
			}
		}
	}
	return out
}

// accessNetworkOf assembles the VM's network path from what was gathered.
func accessNetworkOf(in guard.Input) accessNetwork {
	var n accessNetwork
	var v accessVM
	if in.Resource == nil || !accessDecode(in.Resource.Body, &v) {
		return n
	}
	seenNSG := map[string]bool{}
	var subnetNSGs []string
	addNSG := func(id string, list *[]string) {
		if id == "" || seenNSG[guard.IDKey(id)] {
			return
		}
		seenNSG[guard.IDKey(id)] = true
		*list = append(*list, id)
	}
	var nicNSGs []string
	for _, ref := range v.Properties.NetworkProfile.NetworkInterfaces {
		if ref.ID == "" {
			continue
		}
		n.NICs = append(n.NICs, ref.ID)
		nr := accessLive(in, ref.ID)
		var nic accessNIC
		if nr == nil || !accessDecode(nr.Body, &nic) {
			n.Unread = append(n.Unread, ref.ID)
			continue
		}
		if g := nic.Properties.NetworkSecurityGroup; g != nil {
			addNSG(g.ID, &nicNSGs)
		}
		for _, ipc := range nic.Properties.IPConfigurations {
			if a, ok := accessAddr(ipc.Properties.PrivateIPAddress); ok {
				n.PrivateIPs = append(n.PrivateIPs, a)
			}
			s := ipc.Properties.Subnet
			if s == nil || s.ID == "" {
				continue
			}
			sr := accessLive(in, s.ID)
			var sub accessSubnet
			if sr == nil || !accessDecode(sr.Body, &sub) {
				n.Unread = accessAppendOnce(n.Unread, s.ID)
				continue
			}
			if g := sub.Properties.NetworkSecurityGroup; g != nil {
				addNSG(g.ID, &subnetNSGs)
			}
		}
	}
	for _, id := range append(nicNSGs, subnetNSGs...) {
		n.NSGIDs = append(n.NSGIDs, id)
		r := accessLive(in, id)
		var g accessNSG
		if r == nil || !accessDecode(r.Body, &g) {
			n.Unread = append(n.Unread, id)
			continue
		}
		if g.ID == "" {
			g.ID = id
		}
		n.NSGs = append(n.NSGs, &g)
	}
	return n
}

func accessAppendOnce(list []string, id string) []string {
	for _, x := range list {
		if guard.SameID(x, id) {
			return list
		}
	}
	return append(list, id)
}

// accessOpenRule is an inbound Allow rule that still lets a grant's source reach
// its port on the VM.
type accessOpenRule struct {
	NSG      string
	Rule     string
	RuleID   string
	Priority int
	Sources  []string
	Ports    []string
	JIT      bool // named as Defender for Cloud JIT names its rules
}

func (r accessOpenRule) facts() map[string]any {
	return map[string]any{"nsgId": r.NSG, "ruleName": r.Rule, "ruleId": r.RuleID, "priority": r.Priority,
		"sourceAddressPrefixes": r.Sources, "destinationPortRanges": r.Ports, "jitRule": r.JIT}
}

// openRules returns the inbound Allow rules of the NSG that cover the port from
// one of the sources, towards one of the VM's addresses, highest priority
// (lowest number) first. Coverage is judged by ports and prefixes, not by the
// rule's name: a rule someone added by hand that admits the same traffic keeps
// the grant usable just as much.
func (g *accessNSG) openRules(port int, sources []string, vmIPs []netip.Addr) []accessOpenRule {
	var out []accessOpenRule
	for _, r := range g.Properties.SecurityRules {
		p := r.Properties
		if !strings.EqualFold(p.Direction, "Inbound") || !strings.EqualFold(p.Access, "Allow") {
			continue
		}
		if !accessProtocolCarriesPorts(p.Protocol) {
			continue
		}
		ports := accessNonEmpty(append([]string{p.DestinationPortRange}, p.DestinationPortRanges...))
		if !accessAnyPort(ports, port) {
			continue
		}
		srcs := accessNonEmpty(append([]string{p.SourceAddressPrefix}, p.SourceAddressPrefixes...))
		if !accessSourcesCover(srcs, sources) {
			continue
		}
		dsts := accessNonEmpty(append([]string{p.DestinationAddressPrefix}, p.DestinationAddressPrefixes...))
		if !accessDestinationCovers(dsts, len(p.DestinationApplicationSecurityGroups) > 0, vmIPs) {
			continue
		}
		out = append(out, accessOpenRule{NSG: g.ID, Rule: r.Name, RuleID: r.ID, Priority: p.Priority,
			Sources: srcs, Ports: ports, JIT: strings.HasPrefix(strings.ToLower(r.Name), strings.ToLower(jitRulePrefix))})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

func accessNonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// accessProtocolCarriesPorts: a rule for ICMP, ESP or AH opens no TCP/UDP port.
func accessProtocolCarriesPorts(p string) bool {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "icmp", "esp", "ah":
		return false
	}
	return true
}

// accessAnyPort reports whether one of the ranges ("*", "22", "20-25") holds port.
// A rule with no destination port at all admits none.
func accessAnyPort(ranges []string, port int) bool {
	for _, r := range ranges {
		if r == "*" {
			return true
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, okA := accessAtoi(lo)
		if !isRange {
			if okA && a == port {
				return true
			}
			continue
		}
		b, okB := accessAtoi(hi)
		if okA && okB && a <= port && port <= b {
			return true
		}
	}
	return false
}

func accessAtoi(s string) (int, bool) {
	s = strings.TrimSpace(s)
	n := 0
	if s == "" || len(s) > 5 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// accessWildcard reports whether a prefix means any address.
func accessWildcard(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "*", "any", "0.0.0.0/0", "::/0":
		return true
	}
	return false
}

// accessPrefix reads an IP address or CIDR.
func accessPrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// accessAddr reads a NIC's private address, written as an address or, for a
// prefix-delegated configuration, as a CIDR ("172.20.2.16/28", NetworkInterfaceGet.json).
func accessAddr(s string) (netip.Addr, bool) {
	p, ok := accessPrefix(s)
	if !ok {
		return netip.Addr{}, false
	}
	return p.Addr(), true
}

// accessSourcesCover reports whether the rule's sources admit at least one of the
// grant's sources entirely (a grant for 203.0.113.10 is covered by a rule for
// 203.0.113.0/24, "*" or the Internet tag; a grant for "*" only by a rule for any
// source).
func accessSourcesCover(ruleSrcs, grantSrcs []string) bool {
	if len(grantSrcs) == 0 {
		grantSrcs = []string{"*"}
	}
	for _, rs := range ruleSrcs {
		for _, gs := range grantSrcs {
			if accessSourceCovers(rs, gs) {
				return true
			}
		}
	}
	return false
}

func accessSourceCovers(rule, grant string) bool {
	if accessWildcard(rule) {
		return true
	}
	gp, gok := accessPrefix(grant)
	switch strings.ToLower(strings.TrimSpace(rule)) {
	case "internet":
		// The Internet service tag is the address space outside the virtual network:
		// it admits any public source, and a grant for any source through it.
		return accessWildcard(grant) || gok && !accessPrivate(gp.Addr())
	case "virtualnetwork":
		// The VirtualNetwork tag is the VNet's space and what it reaches privately;
		// approximated by the private ranges.
		return gok && accessPrivate(gp.Addr())
	}
	rp, rok := accessPrefix(rule)
	if !rok || !gok || accessWildcard(grant) {
		return false
	}
	return rp.Addr().BitLen() == gp.Addr().BitLen() && rp.Bits() <= gp.Bits() && rp.Contains(gp.Addr())
}

func accessPrivate(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(a) // shared address space (RFC 6598)
}

// accessDestinationCovers reports whether the rule's destination includes the
// VM. JIT rules name the VM's private IP (S22), so a JIT rule of a neighbouring
// VM in a shared subnet NSG does not count; a destination that cannot be checked
// (an application security group, or a VM whose addresses are unknown) counts.
func accessDestinationCovers(dsts []string, viaASG bool, vmIPs []netip.Addr) bool {
	if viaASG || len(vmIPs) == 0 || len(dsts) == 0 {
		return true
	}
	for _, d := range dsts {
		if accessWildcard(d) || strings.EqualFold(d, "VirtualNetwork") {
			return true
		}
		p, ok := accessPrefix(d)
		if !ok {
			continue
		}
		for _, ip := range vmIPs {
			if p.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// accessDecode reads a JSON object body into v.
func accessDecode(body []byte, v any) bool {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	return json.Unmarshal(b, v) == nil
}
