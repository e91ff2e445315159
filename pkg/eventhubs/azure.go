package eventhubs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"
)

// applicationID goes into the AMQP connection's user agent.
const applicationID = "exportguard"

// Options are what Consumer and Producer share.
type Options struct {
	// Credential signs in; nil means DefaultAzureCredential at the authority of
	// the target's cloud.
	Credential azcore.TokenCredential
	// ConnectionString, when set, is used instead of a credential: a shared
	// access signature, or the emulator's (UseDevelopmentEmulator=true). Its
	// endpoint names the namespace; the target's hub is still the hub.
	ConnectionString string
	// Retry overrides azeventhubs' retry policy (3 retries from 4 s by default).
	Retry *azeventhubs.RetryOptions
}

// NewCredential returns DefaultAzureCredential signing in at the authority of
// the named cloud (AzureCloud when ""). In Azure it is the managed identity
// (AZURE_CLIENT_ID names a user-assigned one); on a laptop, the developer's
// Azure CLI or environment sign-in.
func NewCredential(cloudName string) (azcore.TokenCredential, error) {
	conf, err := cloudConfig(cloudName)
	if err != nil {
		return nil, err
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: policy.ClientOptions{Cloud: conf},
	})
	if err != nil {
		return nil, fmt.Errorf("eventhubs: credential: %w", err)
	}
	return cred, nil
}

func cloudConfig(name string) (cloud.Configuration, error) {
	switch name {
	case "", CloudPublic:
		return cloud.AzurePublic, nil
	case CloudGovernment:
		return cloud.AzureGovernment, nil
	}
	return cloud.Configuration{}, fmt.Errorf("eventhubs: unknown cloud %q (want %s or %s)", name, CloudPublic, CloudGovernment)
}

func (o Options) credential(t Target) (azcore.TokenCredential, error) {
	if o.Credential != nil {
		return o.Credential, nil
	}
	return NewCredential(t.Cloud)
}

func (o Options) retry() azeventhubs.RetryOptions {
	if o.Retry != nil {
		return *o.Retry
	}
	return azeventhubs.RetryOptions{}
}

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Options
	// ConsumerGroup to read as; "$Default" when empty. Give the recorder a
	// consumer group of its own, so that it does not compete with the
	// Functions trigger for the partitions' readers.
	ConsumerGroup string
	// Since, when set, starts every partition at the first message enqueued at
	// or after it; otherwise every partition starts at its end (new messages
	// only).
	Since time.Time
	// MaxBatch bounds how many messages one partition read returns (100 when 0).
	MaxBatch int
	// Wait is how long one partition read waits for its first message before
	// trying again (2 s when 0); it bounds how late Close and a cancelled
	// Receive are noticed by the partition readers, not how late messages are.
	Wait time.Duration
}

// startPosition is where every partition starts reading.
func (o ConsumerOptions) startPosition() azeventhubs.StartPosition {
	if o.Since.IsZero() {
		latest := true
		return azeventhubs.StartPosition{Latest: &latest}
	}
	since := o.Since.UTC()
	return azeventhubs.StartPosition{EnqueuedTime: &since, Inclusive: true}
}

// Consumer reads every partition of a hub with azeventhubs: one
// PartitionClient per partition, each read in its own goroutine.
type Consumer struct {
	cc      *azeventhubs.ConsumerClient
	parts   []*azeventhubs.PartitionClient
	batches chan []Event
	errs    chan error
	stop    context.CancelFunc
	wg      sync.WaitGroup
	closed  sync.Once
}

// NewConsumer connects to the hub, lists its partitions and starts reading each.
func NewConsumer(ctx context.Context, t Target, o ConsumerOptions) (*Consumer, error) {
	group := o.ConsumerGroup
	if group == "" {
		group = azeventhubs.DefaultConsumerGroup
	}
	copts := &azeventhubs.ConsumerClientOptions{ApplicationID: applicationID, RetryOptions: o.retry()}
	var cc *azeventhubs.ConsumerClient
	var err error
	if o.ConnectionString != "" {
		cc, err = azeventhubs.NewConsumerClientFromConnectionString(o.ConnectionString, t.Hub, group, copts)
	} else {
		cred, cerr := o.credential(t)
		if cerr != nil {
			return nil, cerr
		}
		cc, err = azeventhubs.NewConsumerClient(t.Namespace, t.Hub, group, cred, copts)
	}
	if err != nil {
		return nil, fmt.Errorf("eventhubs: %s: %w", t, err)
	}
	props, err := cc.GetEventHubProperties(ctx, nil)
	if err != nil {
		_ = cc.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("eventhubs: %s: read the hub's partitions: %w", t, err)
	}
	maxBatch, wait := o.MaxBatch, o.Wait
	if maxBatch <= 0 {
		maxBatch = 100
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	inner, stop := context.WithCancel(context.WithoutCancel(ctx))
	c := &Consumer{cc: cc, batches: make(chan []Event), errs: make(chan error, len(props.PartitionIDs)), stop: stop}
	start := o.startPosition()
	for _, id := range props.PartitionIDs {
		pc, err := cc.NewPartitionClient(id, &azeventhubs.PartitionClientOptions{StartPosition: start})
		if err != nil {
			_ = c.Close(ctx)
			return nil, fmt.Errorf("eventhubs: %s: partition %s: %w", t, id, err)
		}
		c.parts = append(c.parts, pc)
		c.wg.Add(1)
		go c.read(inner, id, pc, maxBatch, wait)
	}
	return c, nil
}

// read receives one partition's messages until ctx ends or the partition fails
// in a way azeventhubs' own retries did not cure.
func (c *Consumer) read(ctx context.Context, id string, pc *azeventhubs.PartitionClient, max int, wait time.Duration) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		rctx, cancel := context.WithTimeout(ctx, wait)
		got, err := pc.ReceiveEvents(rctx, max, nil)
		timedOut := rctx.Err() != nil
		cancel()
		if len(got) > 0 {
			evs := make([]Event, 0, len(got))
			for _, e := range got {
				ev := Event{Body: e.Body, PartitionID: id, SequenceNumber: e.SequenceNumber}
				if e.EnqueuedTime != nil {
					ev.EnqueuedTime = e.EnqueuedTime.UTC()
				}
				evs = append(evs, ev)
			}
			select {
			case c.batches <- evs:
			case <-ctx.Done():
				return
			}
		}
		if err != nil && !timedOut && ctx.Err() == nil {
			c.errs <- fmt.Errorf("eventhubs: partition %s: %w", id, err)
			return
		}
	}
}

// Receive implements Receiver: it waits for the first partition with messages,
// takes whatever the others have ready too, and returns them oldest first.
func (c *Consumer) Receive(ctx context.Context) ([]Event, error) {
	var out []Event
	select {
	case evs := <-c.batches:
		out = evs
	case err := <-c.errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for more := true; more; {
		select {
		case evs := <-c.batches:
			out = append(out, evs...)
		default:
			more = false
		}
	}
	SortByEnqueuedTime(out)
	return out, nil
}

// Close stops the partition readers and closes the connection.
func (c *Consumer) Close(ctx context.Context) error {
	var err error
	c.closed.Do(func() {
		c.stop()
		c.wg.Wait()
		var errs []error
		for _, pc := range c.parts {
			errs = append(errs, pc.Close(ctx))
		}
		errs = append(errs, c.cc.Close(ctx))
		err = errors.Join(errs...)
	})
	return err
}

// ProducerOptions configure a Producer.
type ProducerOptions struct {
	Options
	// PartitionKey is given to every batch, so that all of them land in one
	// partition, in order ("exportguard" when empty).
	PartitionKey string
	// MaxBatchBytes caps a batch below what the hub allows (0: the hub's limit).
	MaxBatchBytes uint64
}

// Producer sends batches with azeventhubs' ProducerClient.
type Producer struct {
	pc   *azeventhubs.ProducerClient
	opts ProducerOptions
}

// NewProducer returns a producer for the hub. It connects on first use.
func NewProducer(t Target, o ProducerOptions) (*Producer, error) {
	popts := &azeventhubs.ProducerClientOptions{ApplicationID: applicationID, RetryOptions: o.retry()}
	var pc *azeventhubs.ProducerClient
	var err error
	if o.ConnectionString != "" {
		pc, err = azeventhubs.NewProducerClientFromConnectionString(o.ConnectionString, t.Hub, popts)
	} else {
		cred, cerr := o.credential(t)
		if cerr != nil {
			return nil, cerr
		}
		pc, err = azeventhubs.NewProducerClient(t.Namespace, t.Hub, cred, popts)
	}
	if err != nil {
		return nil, fmt.Errorf("eventhubs: %s: %w", t, err)
	}
	if o.PartitionKey == "" {
		o.PartitionKey = applicationID
	}
	return &Producer{pc: pc, opts: o}, nil
}

// NewBatch implements Sender.
func (p *Producer) NewBatch(ctx context.Context) (Batch, error) {
	key := p.opts.PartitionKey
	b, err := p.pc.NewEventDataBatch(ctx, &azeventhubs.EventDataBatchOptions{PartitionKey: &key, MaxBytes: p.opts.MaxBatchBytes})
	if err != nil {
		return nil, err
	}
	return &azBatch{b: b}, nil
}

// Send implements Sender.
func (p *Producer) Send(ctx context.Context, b Batch) error {
	ab, ok := b.(*azBatch)
	if !ok {
		return fmt.Errorf("eventhubs: a %T is not a batch this producer made", b)
	}
	return p.pc.SendEventDataBatch(ctx, ab.b, nil)
}

// Close implements Sender.
func (p *Producer) Close(ctx context.Context) error { return p.pc.Close(ctx) }

type azBatch struct{ b *azeventhubs.EventDataBatch }

var contentTypeJSON = "application/json"

func (a *azBatch) Add(e Event) error {
	err := a.b.AddEventData(&azeventhubs.EventData{Body: e.Body, ContentType: &contentTypeJSON}, nil)
	if errors.Is(err, azeventhubs.ErrEventDataTooLarge) {
		return fmt.Errorf("%w (%d bytes in the batch)", ErrTooLarge, a.b.NumBytes())
	}
	return err
}

func (a *azBatch) Len() int { return int(a.b.NumEvents()) }

// Interfaces implemented.
var (
	_ Receiver = (*Consumer)(nil)
	_ Sender   = (*Producer)(nil)
)
