// Package activitylog turns Azure Activity Log records, as a diagnostic setting
// streams them to Event Hubs, into guard changes.
//
// It exists because the Event Hubs shape is not the REST shape most documentation
// shows (research note azure-events.md §1.5). One message holds a {"records":[...]}
// envelope of several records. The operation is a plain string. There is no caller
// field, so the caller comes from the JWT claims, and there is no event ID, so Decode
// derives one. Fields also vary between what Microsoft documents and what arrives:
// upper-case IDs, category "Administrative" or "Write", durationMs as a number or a
// string, and two resultType vocabularies. Decode accepts all of these, and one bad
// record never hides the good ones in its envelope.
//
// A record whose resourceId is not plainly an ARM ID (a "..", "." or empty
// segment, a backslash, a percent-escape, a control character:
// guard.CheckResourceID) is rejected with the reason: it could name one
// resource as text and another once a URL is resolved (DESIGN 3.6).
//
// Records are triggers, not truth. properties.requestbody and responseBody are
// optional hints that may be masked or truncated, so Decode never builds the
// resource from them; the pipeline reads ARM.
package activitylog
