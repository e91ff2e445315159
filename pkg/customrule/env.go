package customrule

import (
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/ext"
)

// The variables an expression sees.
const (
	varResource = "resource" // the ARM JSON of the judged resource
	varPrevious = "previous" // the last known state's ARM JSON, or null
	varPolicy   = "policy"   // allowedRegions, allowedGeographies, cloud, roster
	varNow      = "now"      // the pipeline's clock (replay's session clock)
)

// env is the one CEL environment every custom rule is compiled in: safe for
// concurrent use, built once.
var env = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(varResource, cel.DynType),
		cel.Variable(varPrevious, cel.DynType),
		cel.Variable(varPolicy, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varNow, cel.TimestampType),
		cel.OptionalTypes(), // resource.?properties.?x.orValue(…)
		// JSON numbers are doubles: let 2 (an int) compare with them.
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
		ext.Math(),
	)
})
