package functions

// Names of the functions the handler serves: the folders under functions/ at
// the module root, which the Functions host POSTs to as /<name> (and whose
// admin endpoint is /admin/functions/<name>). Exported for what invokes them
// from outside (replay --via), so that a name is spelled once.
const (
	FunctionActivityLog    = "activitylog"    // eventHubTrigger "events", cardinality many, dataType string
	FunctionResourceEvents = "resourceevents" // eventGridTrigger "event"
	FunctionSweep          = "sweep"          // timerTrigger "timer"
	FunctionHealth         = "health"         // httpTrigger "req", http output "res"
)
