package region

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		in, name, geography, pair string
	}{
		{"eastus", "eastus", "United States", "westus"},
		{"East US 2", "eastus2", "United States", "centralus"},
		{"WESTUS3", "westus3", "United States", "eastus"}, // one-way pair
		{"US Gov Virginia", "usgovvirginia", "US Government", "usgovtexas"},
		{"usdodeast", "usdodeast", "US Department of Defense", "usdodcentral"},
		{"Brazil South", "brazilsouth", "Brazil", "southcentralus"},
		{"italynorth", "italynorth", "Italy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, ok := Lookup(tt.in)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", tt.in)
			}
			if r.Name != tt.name || r.Geography != tt.geography || r.Paired != tt.pair {
				t.Errorf("Lookup(%q) = %+v, want name %s geography %s pair %q", tt.in, r, tt.name, tt.geography, tt.pair)
			}
			if got := Pair(tt.in); got != tt.pair {
				t.Errorf("Pair(%q) = %q, want %q", tt.in, got, tt.pair)
			}
		})
	}
	if _, ok := Lookup("usgoviowa"); ok {
		t.Error("usgoviowa is retired and must not be known")
	}
	if got := len(All()); got < 60 {
		t.Errorf("All() has %d regions, want the full table (62)", got)
	}
}
