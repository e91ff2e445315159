// Package eventhubs is exportguard's boundary with Azure Event Hubs: reading
// the Activity Log messages a diagnostic setting streams to a hub (exportguard
// record), and publishing recorded messages to a hub (exportguard replay
// --to-eventhub).
//
// The boundary is three small interfaces: a Receiver yields batches of
// messages ({body, enqueued time}) from every partition of a hub, a Sender
// creates and sends batches, and a Batch takes messages until it is full. The
// code that decides what to do with messages (the recorder, the Publisher
// below) is written and tested against those interfaces with fakes; Consumer
// and Producer implement them on azeventhubs (ConsumerClient and
// PartitionClient, ProducerClient and EventDataBatch) and hold no logic worth
// a test of its own. No Event Hubs emulator runs on the machines that test
// this package.
//
// # Namespaces and clouds
//
// A hub is named NAMESPACE/HUB. NAMESPACE is either a fully qualified host
// name (x.servicebus.windows.net, x.servicebus.usgovcloudapi.net) or a short
// name, which gets the Event Hubs suffix of the cloud in use:
// servicebus.windows.net in AzureCloud, servicebus.usgovcloudapi.net in
// AzureUSGovernment. A known suffix also tells which cloud the namespace is
// in, so that the credential signs in at that cloud's authority
// (login.microsoftonline.us for Azure Government). The token audience,
// https://eventhubs.azure.net/, is the same in every cloud.
//
// Authentication is Entra ID through azidentity's DefaultAzureCredential
// (managed identity in Azure, AZURE_CLIENT_ID naming a user-assigned one; the
// developer's sign-in on a laptop). Options.ConnectionString, when set, is
// used instead: a shared access signature or the Event Hubs emulator's
// UseDevelopmentEmulator=true connection string. It is a secret and appears
// in no error or log.
//
// # Order
//
// Event Hubs keeps order within a partition only. The Publisher sends every
// batch with one partition key, so that every message lands in one partition
// in the order it was published, and a consumer (the Functions trigger) sees
// them in that order. The Consumer reads every partition and returns what the
// partitions had ready, sorted by enqueued time.
package eventhubs
