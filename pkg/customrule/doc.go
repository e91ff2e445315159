// Package customrule turns the custom rules a policy file defines (customRules,
// guard.CustomRule) into rules the pipeline runs beside the built-in ones.
//
// It exists so that an export-control office can add a check without a
// release, and so that doing so cannot hurt the guard: each expression is
// written in CEL (cel.dev/cel-go), parsed, type-checked to a bool and
// cost-estimated once, when the policy loads, and refused with the rule's ID
// and policy line if anything is wrong; at run time each evaluation is
// cost-limited, and an expression that fails on one resource (a missing field
// selected without ?) is logged and gives no verdict for that resource, never
// a crash and never a finding. It is the only package that imports cel-go:
// package guard knows custom rules as plain data, as the file gives them.
package customrule
