package rules

import (
	"net/netip"
	"testing"
)

func TestNSGCoverage(t *testing.T) {
	ports := []struct {
		ranges []string
		port   int
		want   bool
	}{
		{[]string{"*"}, 22, true},
		{[]string{"22"}, 22, true},
		{[]string{"3389"}, 22, false},
		{[]string{"20-25"}, 22, true},
		{[]string{"80", "443", "3380-3390"}, 3389, true},
		{[]string{"23-30"}, 22, false},
		{[]string{"x-y", "", "99999"}, 22, false},
		{nil, 22, false},
	}
	for _, tt := range ports {
		if got := accessAnyPort(tt.ranges, tt.port); got != tt.want {
			t.Errorf("ports %v cover %d = %v, want %v", tt.ranges, tt.port, got, tt.want)
		}
	}
	sources := []struct {
		rule, grant string
		want        bool
	}{
		{"*", "192.127.0.2", true},
		{"Any", "*", true},
		{"0.0.0.0/0", "203.0.113.10", true},
		{"192.127.0.2", "192.127.0.2", true},
		{"192.127.0.0/24", "192.127.0.2", true},
		{"192.127.0.0/24", "192.127.0.0/16", false}, // the grant is wider than the rule
		{"10.0.0.0/8", "192.127.0.2", false},
		{"192.127.0.2", "*", false}, // a rule for one address does not keep a grant for any source usable by all
		{"Internet", "203.0.113.10", true},
		{"Internet", "10.1.2.3", false},
		{"Internet", "*", true},
		{"VirtualNetwork", "10.1.2.3", true},
		{"VirtualNetwork", "203.0.113.10", false},
		{"AzureLoadBalancer", "203.0.113.10", false},
		{"2001:db8::/32", "2001:db8::1", true},
		{"2001:db8::/32", "192.127.0.2", false},
	}
	for _, tt := range sources {
		if got := accessSourceCovers(tt.rule, tt.grant); got != tt.want {
			t.Errorf("source %q covers grant %q = %v, want %v", tt.rule, tt.grant, got, tt.want)
		}
	}
	vm := []netip.Addr{netip.MustParseAddr("10.0.0.4")}
	dests := []struct {
		dsts  []string
		asg   bool
		vmIPs []netip.Addr
		want  bool
	}{
		{[]string{"10.0.0.4"}, false, vm, true},
		{[]string{"10.0.0.0/24"}, false, vm, true},
		{[]string{"10.0.0.5"}, false, vm, false},
		{[]string{"*"}, false, vm, true},
		{[]string{"VirtualNetwork"}, false, vm, true},
		{nil, true, vm, true},                    // an application security group cannot be checked
		{[]string{"10.0.0.5"}, false, nil, true}, // nor can a VM whose address is unknown
		{[]string{"Storage"}, false, vm, false},
	}
	for _, tt := range dests {
		if got := accessDestinationCovers(tt.dsts, tt.asg, tt.vmIPs); got != tt.want {
			t.Errorf("destination %v (asg %v) covers %v = %v, want %v", tt.dsts, tt.asg, tt.vmIPs, got, tt.want)
		}
	}
}

func TestNSGSpecExampleAdmitsOnlyPort80(t *testing.T) {
	var g accessNSG
	if !accessDecode(accessJSON(t, accessDoc(t, "nsg_get.json")), &g) {
		t.Fatal("nsg_get.json does not decode")
	}
	if open := g.openRules(80, []string{"203.0.113.10"}, nil); len(open) != 1 || open[0].Rule != "rule1" || open[0].JIT {
		t.Errorf("port 80: %+v, want rule1 (not a JIT rule)", open)
	}
	// The default rules (AllowVnetInBound, AllowAzureLoadBalancerInBound) are not
	// JIT grants and are never counted.
	if open := g.openRules(22, []string{"10.1.2.3"}, nil); len(open) != 0 {
		t.Errorf("port 22: %+v, want none", open)
	}
}
