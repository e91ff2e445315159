// Package eventgrid turns Event Grid deliveries, in the Event Grid schema or the
// CloudEvents 1.0 schema, into guard changes.
//
// It exists because one resource change reaches us in several shapes. A delivery is
// a single event or an array of them. The same event can come in either schema. The
// published examples are not always right: one writes "specVersion" for
// "specversion", and a Failure example says status "Succeeded" in its data
// (research note azure-events.md §2.3). Decode reads the outcome from the event
// type, never from data.status.
//
// Two families of event matter:
//
//   - Microsoft.Resources.Resource{Write,Delete,Action}{Success,Failure,Cancel}
//     from a subscription or resource-group system topic. These carry only
//     operation metadata; the pipeline reads the resource from ARM.
//   - Microsoft.ResourceNotifications.Resources.CreatedOrUpdated and .Deleted.
//     These carry the resource itself (data.resourceInfo), so Change.Resource is set.
//   - Microsoft.KeyVault.KeyNewVersionCreated, KeyNearExpiry and KeyExpired from a
//     key vault's system topic. The change is about the key's ARM resource (the
//     vault's ID from topic or source, plus "/keys/" and the key's name), and
//     Change.Resource is the key's state as the event tells it, shaped like the ARM
//     GET of a key, with attributes.nearExpiry or attributes.expired saying which
//     event said so (research note §3; no official payload of a key event exists,
//     so the decoder is as tolerant as the one secret example requires).
//
// An event's resource ID is only ever a name, and it is checked as one
// (guard.CheckResourceID): an ID with a "..", "." or empty segment, a
// backslash, a percent-escape or a control character could name one resource
// as text and another once a URL is resolved, so the event is rejected with
// the reason and never reaches a rule (DESIGN 3.6). So is a Microsoft.Resources
// event whose data.subscriptionId is not the subscription its ID names.
//
// Every other type is counted as ignored. That includes the subscription
// validation event, which the Functions host or the HTTP adapter answers, Key
// Vault secret, certificate and access-policy events, and Storage events.
package eventgrid
