package customrule

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// paths is what a rule set's expressions can read of the bodies of resource
// and previous: the keys of the top-level object, each with the keys they can
// read below it, down to maxPathDepth levels. A key that maps to nil is read
// whole; a nil paths (at the top) means the whole body. Reading each body was
// half of what the custom rules cost (`make bench`) and most of an ARM body is
// properties no expression asks for: decodePaths checks those as encoding/json
// would and does not build them.
type paths map[string]paths

// maxPathDepth is how deep a path is followed: below it, the value is read
// whole (resource.properties.encryption.keySource reads
// properties.encryption.keySource, ….keyvaultproperties.keyvaulturi reads
// properties.encryption.keyvaultproperties whole).
const maxPathDepth = 3

// readPaths is what a checked expression can read of resource and previous:
// the ends of the chains of field selections rooted at either
// (resource.properties.x, resource.properties.?x, has(resource.tags.owner),
// resource['tags'], resource.tags[?'owner']), each read whole below its end.
// It is nil (the whole body) when the expression uses either variable in any
// other way: whole (resource == previous, previous != null, a function of
// it), indexed by a computed key (resource[k]), or iterated.
func readPaths(e ast.Expr) paths {
	c := pathCollector{p: paths{}}
	c.visit(e)
	if c.all {
		return nil
	}
	return c.p
}

type pathCollector struct {
	p   paths
	all bool
}

func (c *pathCollector) visit(e ast.Expr) {
	if c.all || e == nil {
		return
	}
	if path, ok := chain(e); ok {
		if len(path) == 0 {
			c.all = true // the variable itself
			return
		}
		c.p.add(path[:min(len(path), maxPathDepth)])
		return
	}
	switch e.Kind() {
	case ast.SelectKind:
		c.visit(e.AsSelect().Operand())
	case ast.CallKind:
		call := e.AsCall()
		if call.IsMemberFunction() {
			c.visit(call.Target())
		}
		for _, a := range call.Args() {
			c.visit(a)
		}
	case ast.ComprehensionKind:
		// An iteration variable named resource or previous shadows the
		// variable: its selections are then over-counted here, never missed.
		comp := e.AsComprehension()
		for _, x := range []ast.Expr{comp.IterRange(), comp.AccuInit(), comp.LoopCondition(), comp.LoopStep(), comp.Result()} {
			c.visit(x)
		}
	case ast.ListKind:
		for _, x := range e.AsList().Elements() {
			c.visit(x)
		}
	case ast.MapKind:
		for _, en := range e.AsMap().Entries() {
			c.visit(en.AsMapEntry().Key())
			c.visit(en.AsMapEntry().Value())
		}
	case ast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			c.visit(f.AsStructField().Value())
		}
	}
}

// chain gives the keys e selects from resource or previous, when e is such a
// chain of selections by constant keys: nil for the variable itself.
func chain(e ast.Expr) ([]string, bool) {
	switch e.Kind() {
	case ast.IdentKind:
		n := e.AsIdent()
		return nil, n == varResource || n == varPrevious
	case ast.SelectKind:
		sel := e.AsSelect()
		if p, ok := chain(sel.Operand()); ok {
			return append(p[:len(p):len(p)], sel.FieldName()), true
		}
	case ast.CallKind:
		call := e.AsCall()
		switch call.FunctionName() {
		case operators.OptSelect, operators.Index, operators.OptIndex:
		default:
			return nil, false
		}
		args := call.Args()
		if call.IsMemberFunction() || len(args) != 2 || args[1].Kind() != ast.LiteralKind {
			return nil, false
		}
		key, ok := args[1].AsLiteral().(types.String)
		if !ok {
			return nil, false
		}
		if p, ok := chain(args[0]); ok {
			return append(p[:len(p):len(p)], string(key)), true
		}
	}
	return nil, false
}

// add adds a path: read whole below its end.
func (p paths) add(path []string) {
	k := path[0]
	sub, seen := p[k]
	switch {
	case seen && sub == nil: // already read whole
	case len(path) == 1:
		p[k] = nil
	default:
		if !seen {
			sub = paths{}
			p[k] = sub
		}
		sub.add(path[1:])
	}
}

// union is what either of two rule sets reads: nil (the whole body) if either reads it whole.
func union(a, b paths) paths {
	if a == nil || b == nil {
		return nil
	}
	out := paths{}
	out.merge(a)
	out.merge(b)
	return out
}

func (p paths) merge(q paths) {
	for k, sub := range q {
		mine, seen := p[k]
		switch {
		case seen && mine == nil:
		case sub == nil:
			p[k] = nil
		default:
			if !seen {
				mine = paths{}
				p[k] = mine
			}
			mine.merge(sub)
		}
	}
}
