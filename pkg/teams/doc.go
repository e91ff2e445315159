// Package teams posts exportguard's notifications to Microsoft Teams as
// Adaptive Cards (schema 1.5) through a Teams Workflows webhook: the URL a
// workflow built on the trigger "When a Teams webhook request is received"
// gives (the template "Post to a channel when a webhook request is received").
//
// The request body is the message envelope Microsoft documents for sending an
// Adaptive Card to a webhook (github.com/MicrosoftDocs/msteams-docs,
// msteams-platform/webhooks-and-connectors/how-to/connectors-using.md at
// 08aa3ef2, "Send adaptive cards using an incoming webhook": "type" must be
// "message", "attachments" holds the cards, "contentType" is the Adaptive Card
// type and "content" the card):
//
//	{"type": "message",
//	 "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
//	                  "contentUrl": null,
//	                  "content": {"type": "AdaptiveCard", "version": "1.5", ...}}]}
//
// The Workflows trigger takes the same body and the template posts each
// attachment's content as a card (learn.microsoft.com/microsoftteams/platform/
// webhooks-and-connectors/how-to/connectors-using, "Create and send messages":
// use the "When a Teams webhook request is received" trigger; Workflows support
// Adaptive Cards). Office 365 connector
// webhooks, which are being retired, take this envelope too, so the same
// Sender serves both; their legacy MessageCard format is not produced.
//
// A card says what happened, to which resource (name, type, subscription,
// resource group, region), who did it and when, the rule and why (the
// finding's message, and its evidence in a sentence), the remediation status
// and what to do next, with buttons to open the resource in the portal of the
// policy's cloud and, where the remediation waits for an approver, to approve
// or deny it. A burst is folded into a digest card (see package notify). Every
// card the tests produce is parsed and validated by Microsoft's adaptivecards
// npm library (testdata/validate.js).
//
// Teams caps a message at 28 KB and an incoming webhook at 4 requests a second,
// 60 in 30 seconds and 100 an hour (connectors-using.md, "Rate limiting for
// connectors"); connectors report throttling as HTTP 200 with "Microsoft Teams
// endpoint returned HTTP error 429" in the body, which Check reads. Workflows
// answer 202 Accepted and run the flow afterwards: a card the flow cannot post
// fails there, in the flow's run history, not in the answer.
package teams
