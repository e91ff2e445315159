// Package webhook posts exportguard's finding transitions to a generic webhook
// (a SIEM, a ticket system) as CloudEvents 1.0 in structured JSON mode, built
// with the CloudEvents SDK for Go (github.com/cloudevents/sdk-go/v2):
//
//	POST <notify.webhook.url>
//	Content-Type: application/cloudevents+json; charset=UTF-8
//
//	{"specversion": "1.0", "id": "<outbox item ID>", "source": "<origin>",
//	 "type": "com.exportguard.finding.opened", "subject": "<resource ID>",
//	 "datacontenttype": "application/json", "time": "<transition time>",
//	 "data": {<the finding, as DESIGN 3.4 gives it>}}
//
// The type says what happened: com.exportguard.finding.opened, .reopened,
// .exemption.expired, .resolved, .exempted, .remediation.applied or
// .remediation.failed (and com.exportguard.notify.test for "exportguard notify
// test"). The id is the outbox item's, the same for every attempt at one
// transition, so that a receiver can drop a redelivery (CloudEvents: source
// and id identify an event). The source is EXPORTGUARD_PUBLIC_URL when set,
// else urn:exportguard; the subject is the resource ID.
//
// One event per request: a receiver of single events would misread a batch,
// so this target folds nothing; its limits (ten at once, then five a second)
// only keep a burst from arriving all at once.
package webhook
