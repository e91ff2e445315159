// Package retry is the one place that reads how long a server asks to be left
// alone (Retry-After and Azure's millisecond headers) and computes how long to
// wait before trying again (exponential backoff, with or without jitter).
//
// It exists so that every client of the project (ARM reads and writes,
// Resource Graph, Cosmos DB, the notification senders, the outbox dispatcher)
// reads those headers the same way and never waits without bound: every wait
// it returns is at most a limit the caller gives.
package retry
