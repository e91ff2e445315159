package region

import (
	"strings"
	"testing"
)

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
		{"eastus2euap", "eastus2euap", "United States", "centraluseuap"},
		{"Central US EUAP", "centraluseuap", "United States", "eastus2euap"},
		{"taiwannorth", "taiwannorth", "Taiwan", ""},
		{"Taiwan Northwest", "taiwannorthwest", "Taiwan", ""},
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
		t.Errorf("All() has %d regions, want the full table (66)", got)
	}
}

func TestSuggest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"eastuss", "eastus"},
		{"East USS", "eastus"},
		{"westeurop", "westeurope"},
		{"usgovvirgina", "usgovvirginia"},
		{"eastus2eaup", "eastus2euap"},
		{"marsnorth", ""}, // nothing near: no guess
		{"", ""},
		{strings.Repeat("eastus", 100), ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.in); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGeography(t *testing.T) {
	tests := []struct{ in, known, suggest string }{
		{"United States", "United States", ""},
		{" united states ", "United States", ""},
		{"Taiwan", "Taiwan", ""},
		{"United Stats", "", "United States"},
		{"US Goverment", "", "US Government"},
		{"Atlantis", "", ""},
	}
	for _, tt := range tests {
		got, ok := Geography(tt.in)
		if got != tt.known || ok != (tt.known != "") {
			t.Errorf("Geography(%q) = %q, %v; want %q", tt.in, got, ok, tt.known)
		}
		if tt.known != "" {
			continue
		}
		if got := SuggestGeography(tt.in); got != tt.suggest {
			t.Errorf("SuggestGeography(%q) = %q, want %q", tt.in, got, tt.suggest)
		}
	}
}
