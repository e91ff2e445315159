// Package slack posts exportguard's notifications to a Slack incoming webhook
// as Block Kit blocks: the same content as the Teams card (package teams) in
// Slack's layout.
//
// An incoming webhook takes a JSON body, sent with Content-type
// application/json, whose "text" is the message (and, with blocks, the
// fallback shown in notifications) and whose "blocks" lay it out
// (api.slack.com/messaging/webhooks, "Sending messages using incoming
// webhooks"; api.slack.com/incoming-webhooks):
//
//	{"text": "Violation opened: residency.replication on partnerxfer: …",
//	 "blocks": [{"type": "header", …}, {"type": "section", "fields": […]}, …,
//	            {"type": "actions", "elements": [{"type": "button", "url": …}]}]}
//
// A message has a header (what happened), a context line (severity, cloud), the
// finding's message, fields for the resource (linked to the portal of the
// policy's cloud), type, subscription, resource group, region, who, when, rule
// and status, the evidence in a sentence, what to do next, and link buttons to
// the portal and, where the remediation waits for an approver, to approve or
// deny it. Text from resources and events is escaped (&, <, >), so that no
// name can ping a channel. A burst is folded into a digest (see package
// notify); a message stays within Block Kit's limits (50 blocks, 150
// characters of header, 3000 of section text, 10 fields of 2000).
//
// Slack allows about one message a second per webhook, with short bursts, and
// answers more with 429 and a Retry-After header (api.slack.com/docs/rate-limits).
package slack
