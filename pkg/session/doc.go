// Package session owns the recorded session format (DESIGN 3.2): JSON lines of
// eventhub, eventgrid, arm and clock records, oldest first. It is the one place
// that parses a line (Parse), writes one (Encode, and Writer, which never leaves
// a torn line in a file) and reads a session line by line (Reader), so that
// replay, record, replay --via and replay --to-eventhub agree on what a line is,
// how long it may be and what happens to one that is not a line: it is reported
// by its number and skipped, everywhere.
//
// It imports only the standard library and package guard (for the resource ID
// check an arm line must pass, DESIGN 3.6).
package session
