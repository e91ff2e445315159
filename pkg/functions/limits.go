package functions

import (
	"encoding/json"
	"fmt"
)

// Body limits. An invocation's body is bounded by what the host can send, and
// the memory it costs by what the process may hold (MemoryLimit).
//
// The biggest invocation is an Event Hubs batch. The host hands the handler
// Data.events as a JSON string holding a JSON array of strings, one per message
// (research note functions-custom-handler.md §2.1, §2.5): each message body is
// escaped once as an array element (JsonConvert.SerializeObject of a string[])
// and the resulting text once more as a string value of the request body. The
// worst byte is a control character: 0x01 becomes \u0001 (6 bytes) and then
// \\u0001 (7). A quote or a backslash ends up 4 bytes (\\\" and \\\\), an
// invalid UTF-8 byte 3 (U+FFFD, never escaped), U+2028 7 bytes for its 3; so
// no body grows more than HostEscapeFactor times on the way. A message is at
// most MaxMessageBytes, its application properties included, and those arrive
// in Metadata.PropertiesArray under the same two layers, so they share the
// factor. Each message also brings its system properties, offset, sequence
// number and times in Metadata (about a kilobyte escaped twice); the envelope
// itself, its Metadata.sys and the request's headers are small. Hence
//
//	BodyLimit(batch) = batch × (MaxMessageBytes × HostEscapeFactor + PerMessageOverhead) + EnvelopeOverhead
//
// with batch the trigger's maxEventBatchSize from host.json (HostBatchSize).
const (
	// MaxMessageBytes is the largest Event Hubs event on the Standard and
	// Premium tiers: 1 MB, "Maximum size of Event Hubs event"
	// (https://learn.microsoft.com/azure/event-hubs/event-hubs-quotas). Basic
	// allows 256 KB. A message body decoded larger than this did not come
	// from Event Hubs as we know it and is kept as poison, unread.
	MaxMessageBytes = 1 << 20
	// HostEscapeFactor is how much longer, at most, a message body gets in the
	// invocation body: two layers of JSON string escaping (see above).
	HostEscapeFactor = 7
	// PerMessageOverhead is what each message adds to Metadata besides its
	// properties, with room to spare.
	PerMessageOverhead = 4 << 10
	// EnvelopeOverhead is the rest of the invocation: Data's other keys,
	// Metadata.sys, PartitionContext.
	EnvelopeOverhead = 64 << 10
	// DefaultEventBatchSize is the Event Hubs extension's maxEventBatchSize
	// when host.json does not set one: 100 since extension 6.0.0 (10 before;
	// research note §7, EventHubOptions.cs).
	DefaultEventBatchSize = 100
)

// BodyLimit is the largest invocation body the host sends for an Event Hubs
// batch of up to batch messages (formula above).
func BodyLimit(batch int) int64 {
	return int64(batch)*(MaxMessageBytes*HostEscapeFactor+PerMessageOverhead) + EnvelopeOverhead
}

// hostBatch is the part of host.json that sizes an invocation. Extension 5.x
// and later name the batch size extensions.eventHubs.maxEventBatchSize;
// extension 3.x and 4.x named it
// extensions.eventHubs.eventProcessorOptions.maxBatchSize. The host reads
// host.json case-insensitively, as encoding/json matches field names.
type hostBatch struct {
	Extensions struct {
		EventHubs struct {
			MaxEventBatchSize     *int `json:"maxEventBatchSize"`
			EventProcessorOptions struct {
				MaxBatchSize *int `json:"maxBatchSize"`
			} `json:"eventProcessorOptions"`
		} `json:"eventHubs"`
	} `json:"extensions"`
}

// HostBatchSize reads the Event Hubs trigger's batch size from host.json: the
// number, and the key it came from ("" when host.json sets none and the
// extension's default applies).
func HostBatchSize(hostJSONText []byte) (batch int, key string, err error) {
	var h hostBatch
	if err := json.Unmarshal(hostJSONText, &h); err != nil {
		return 0, "", fmt.Errorf("host.json: %w", err)
	}
	eh := h.Extensions.EventHubs
	switch {
	case eh.MaxEventBatchSize != nil:
		batch, key = *eh.MaxEventBatchSize, "extensions.eventHubs.maxEventBatchSize"
	case eh.EventProcessorOptions.MaxBatchSize != nil:
		batch, key = *eh.EventProcessorOptions.MaxBatchSize, "extensions.eventHubs.eventProcessorOptions.maxBatchSize"
	default:
		return DefaultEventBatchSize, "", nil
	}
	if batch < 1 {
		return 0, "", fmt.Errorf("host.json: %s is %d; the host needs at least 1", key, batch)
	}
	return batch, key, nil
}
