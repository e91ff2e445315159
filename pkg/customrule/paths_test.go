package customrule

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/exportguard/exportguard/pkg/guard"
)

// readPaths finds, for each way an expression can use resource or previous,
// the parts of the body it can read, or nil (the whole body) for a use it
// cannot follow.
func TestReadPaths(t *testing.T) {
	tests := []struct {
		name, src string
		want      paths // nil: the whole body
	}{
		{"optional select", "resource.properties.?allowBlobPublicAccess.orValue(false) == true",
			paths{"properties": {"allowBlobPublicAccess": nil}}},
		{"optional from the root", "resource.?tags.?dataClassification.orValue('') == 'ITAR'",
			paths{"tags": {"dataClassification": nil}}},
		{"select", "resource.location == 'eastus'", paths{"location": nil}},
		{"has", "has(resource.properties.encryption)", paths{"properties": {"encryption": nil}}},
		{"a function of a field", "resource.tags.owner.startsWith('a')", paths{"tags": {"owner": nil}}},
		{"orValue then select: the field read whole", "resource.?properties.orValue({}).x == 1", paths{"properties": nil}},
		{"constant index", "resource['tags']['owner'] == 'a'", paths{"tags": {"owner": nil}}},
		{"optional index", "resource.tags[?'owner'].orValue('') == 'a'", paths{"tags": {"owner": nil}}},
		{"deeper than maxPathDepth: read whole below it", "resource.properties.a.b.c.d == 1",
			paths{"properties": {"a": {"b": nil}}}},
		{"a shorter path covers a longer one", "resource.properties.a.b == 1 && resource.properties.a == {}",
			paths{"properties": {"a": nil}}},
		{"the longer after the shorter", "resource.properties.a == {} && resource.properties.a.b == 1",
			paths{"properties": {"a": nil}}},
		{"resource and previous", "previous.properties.x != resource.properties.y && resource.tags.z == 'a'",
			paths{"properties": {"x": nil, "y": nil}, "tags": {"z": nil}}},
		{"computed key on a field: the field whole", "['owner'].exists(k, resource.tags[k] == 'x')", paths{"tags": nil}},
		{"iterating a field: the field whole", "resource.properties.?securityRules.orValue([]).exists(r, r.name == 'x')",
			paths{"properties": {"securityRules": nil}}},
		{"membership in a field", "'owner' in resource.tags", paths{"tags": nil}},
		{"no body", "now > timestamp('2020-01-01T00:00:00Z')", paths{}},
		{"policy only", "'eastus' in policy.allowedRegions", paths{}},
		{"a shadowing iteration variable: over-counted, never missed", "[{'tags': {}}].exists(resource, resource.tags == {})",
			paths{"tags": nil}},
		// The variable used other than through a chain: the whole body.
		{"compared whole", "resource == previous", nil},
		{"previous compared with null", "previous != null && resource.location == 'x'", nil},
		{"a function of the variable", "size(resource) > 3", nil},
		{"computed key", "resource[policy.cloud] == 1", nil},
		{"non-string constant index", "resource[1] == 2", nil},
		{"iterated", "resource.exists(k, k == 'tags')", nil},
		{"membership", "'tags' in resource", nil},
		{"in a list", "[resource][0].tags == {}", nil},
		{"in a map", "{'a': resource}.a.tags == {}", nil},
		{"optional of the variable", "optional.of(resource).hasValue()", nil},
	}
	e, err := env()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ast, iss := e.Compile(tt.src)
			if iss.Err() != nil {
				t.Fatal(iss.Err())
			}
			got := readPaths(ast.NativeRep().Expr())
			if (got == nil) != (tt.want == nil) || !cmp.Equal(got, tt.want) {
				t.Errorf("readPaths(%s) = %#v, want %#v", tt.src, got, tt.want)
			}
		})
	}
}

// The rules compiled together read a body once, with what any of them reads;
// one that reads it whole makes it read whole.
func TestCompileReadsUnion(t *testing.T) {
	tests := []struct {
		name string
		srcs []string
		want paths
	}{
		{"union", []string{"resource.properties.?a.orValue(1) == 1", "resource.properties.b.c == 1", "has(resource.tags)"},
			paths{"properties": {"a": nil, "b": {"c": nil}}, "tags": nil}},
		{"one reads the whole body", []string{"resource.properties.a == 1", "previous == null"}, nil},
		{"none reads a body", []string{"now > timestamp('2020-01-01T00:00:00Z')"}, paths{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var defs []guard.CustomRule
			for _, s := range tt.srcs {
				defs = append(defs, def("custom.a", s))
			}
			for _, prune := range []bool{true, false} {
				rs, err := compile(defs, nil, prune)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.want
				if !prune {
					want = nil
				}
				for _, r := range rs {
					if r.bodies != rs[0].bodies {
						t.Fatal("the rules do not share a body cache")
					}
				}
				if got := rs[0].bodies.want; (got == nil) != (want == nil) || !cmp.Equal(got, want) {
					t.Errorf("prune %t: reads %#v, want %#v", prune, got, want)
				}
			}
		})
	}
}
