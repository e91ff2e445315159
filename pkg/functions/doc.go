// Package functions adapts exportguard to the Azure Functions host, which runs the
// binary as a custom handler and talks to it over loopback HTTP.
//
// The host speaks its own wire protocol, not the events' (see
// research/functions-custom-handler.md): every invocation is a POST to
// /<function folder name> whose body is an envelope {"Data":…,"Metadata":…}, in which
// string trigger values arrive JSON-encoded as strings, sometimes twice, and whose
// answer must be a JSON {"Outputs":…,"Logs":…,"ReturnValue":…} with an explicit
// application/json content type (the handler adds a Summary, which the host
// ignores, for replay --via). A non-2xx answer fails the invocation, and that is
// the only way to make the host's retry policy run. This package is the one place
// that knows those rules: it peels the envelope off, hands the pipeline the message
// bodies and events exactly as their producers sent them, and maps the pipeline's
// answer back onto the protocol. The pipeline (package guard) never sees the host.
//
// It imports only the standard library and package guard, so it can be tested with
// request bodies shaped exactly as the host sends them (testdata/*.json) and no host.
package functions
