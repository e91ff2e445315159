package region

import (
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Geography returns a geography as the region table spells it ("United States")
// for any spelling that differs only in case and surrounding space.
func Geography(name string) (string, bool) {
	name = strings.TrimSpace(name)
	for _, g := range geographies {
		if strings.EqualFold(g, name) {
			return g, true
		}
	}
	return "", false
}

// Suggest returns the known region name nearest to an unknown one ("eastuss" →
// "eastus"), or "" when none is near enough to be a likely misspelling.
func Suggest(name string) string {
	n := Normalize(name)
	names := make([]string, 0, len(byName))
	for k := range byName {
		names = append(names, k)
	}
	slices.Sort(names) // ties go to the first name, the same every run
	return nearest(n, names)
}

// SuggestGeography is Suggest for geographies ("United Stats" → "United States").
func SuggestGeography(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	lower := make([]string, len(geographies))
	for i, g := range geographies {
		lower[i] = strings.ToLower(g)
	}
	best := nearest(n, lower)
	if i := slices.Index(lower, best); best != "" && i >= 0 {
		return geographies[i]
	}
	return ""
}

// geographies are the distinct geographies of the table, sorted.
var geographies = func() []string {
	var gs []string
	for _, r := range byName {
		if !slices.Contains(gs, r.Geography) {
			gs = append(gs, r.Geography)
		}
	}
	slices.Sort(gs)
	return gs
}()

// maxSuggestInput bounds the text compared, so that a long value costs little.
const maxSuggestInput = 64

// nearest returns the candidate with the smallest edit distance to s, when that
// distance is small for the length of s (at most 2, or a quarter of it).
func nearest(s string, candidates []string) string {
	if s == "" || len(s) > maxSuggestInput {
		return ""
	}
	limit := max(2, len(s)/4)
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := levenshtein.ComputeDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}
