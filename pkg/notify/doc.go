// Package notify tells people about findings where they already are: a Teams
// channel, a Slack channel, or a system that takes CloudEvents (a SIEM, a ticket
// system). It is the notification side of the outbox (DESIGN 1): the Planner
// turns a finding transition into one outbox item per configured target, and a
// Sender per target delivers the items the dispatcher hands it. The packages
// teams, slack and webhook only render a Message in their target's format and
// configure a Sender; everything about when and how often to call lives here.
//
// # What is told, and when
//
// People hear about a finding when it becomes open and when it stops being
// open, once per change of state:
//
//   - opened: a new violation (Event "opened"), or one fixed before that is back
//     ("reopened");
//   - exemption-expired: an exempt violation whose exemption ended is open again;
//   - resolved, exempted: an open violation was fixed, or an exemption now
//     covers it;
//   - remediation-applied, remediation-failed: what the remediation engine
//     reports through PlanRemediation.
//
// A transition between states nobody was told about (a new finding that is
// exempt from the start, an exempt one that is then fixed) is recorded in the
// audit trail but not notified. A duplicate event moves no finding, so it plans
// nothing; the pipeline's ledger sees to that.
//
// # Outbox items
//
// An item's Kind is KindTeams, KindSlack or KindWebhook; its ID is a hash of
// the finding ID, the new status, the time of the transition and the kind, so
// a transition planned twice (after a crash, or a session replayed into the
// same store) is one item, and a sender that delivered it remembers the ID in
// the store's ledger and never sends it again. The payload is the Message, the
// neutral model every target renders: what happened, to which resource (name,
// type, subscription, region), who did it and when, the rule, the finding's
// message, the evidence in a sentence, the remediation status and what to do
// next, a link to the resource in the portal of the policy's cloud
// (portal.azure.com or portal.azure.us) and, when the remediation waits for an
// approver, links to approve or deny it under EXPORTGUARD_PUBLIC_URL. The
// payload never holds a webhook URL.
//
// # Delivery
//
// A Sender posts to its one configured URL and nowhere else: redirects are
// refused, and the URL must be https (plain http is accepted only for a
// loopback address, and only when a test asks for it). A 2xx answer delivers
// the item; 429 and 5xx are retried by the dispatcher with backoff, never
// sooner than a Retry-After asks (and no other item goes to that target until
// then); a redirect or another 4xx fails the item at once, kept in the outbox
// with the reason. A target failing never holds up another: each has its own
// items and its own Sender.
//
// Bursts are shaped before they reach a rate limit. Each Sender has a token
// bucket on the dispatcher's clock (Limits.Burst requests at once, one more
// every Limits.Every): when more messages are due for a target than it has
// tokens, the Teams and Slack senders fold them into one digest (up to
// Limits.MaxDigest messages, each still with its links), and an item that
// finds no token is put back with a RetryAfter until the next one. A minimum
// wall-clock gap between two requests (Limits.Spacing) also holds when the
// dispatcher's clock is a replayed one. The defaults stay under the documented
// limits: Teams incoming webhooks allow 4 requests a second and 60 in 30
// seconds (learn.microsoft.com, "Create and send messages", rate limiting for
// connectors), Slack one message a second with short bursts
// (api.slack.com/docs/rate-limits).
//
// # Secrets
//
// Webhook URLs are secrets. The policy may name them as env:NAME, read from the
// environment when the pipeline is built (ResolveURL). They are kept inside the
// Sender only: errors and logs name the target (teams, slack, webhook), and any
// text a target answers is scrubbed of the URL, its host, path and query
// before it is kept as a reason.
package notify
