package eventhubs

import "github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

func (o ConsumerOptions) StartPositionForTest() azeventhubs.StartPosition { return o.startPosition() }
