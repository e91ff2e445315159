package eventhubs_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/exportguard/exportguard/pkg/eventhubs"
	"github.com/exportguard/exportguard/pkg/eventhubs/ehtest"
)

func msg(i, size int) eventhubs.Event {
	body := fmt.Sprintf(`{"n":%d,"pad":"`, i)
	body += strings.Repeat("x", max(0, size-len(body)-2)) + `"}`
	return eventhubs.Event{Body: []byte(body)}
}

func TestPublisherPacksInOrderWithinTheSizeLimit(t *testing.T) {
	s := &ehtest.Sender{MaxBytes: 1000, Overhead: 10}
	var sentSizes []int
	p := &eventhubs.Publisher{Sender: s, Sent: func(n int) { sentSizes = append(sentSizes, n) }}
	ctx := context.Background()
	var want []string
	for i := 0; i < 25; i++ {
		e := msg(i, 190) // 200 bytes with overhead: 5 per batch
		want = append(want, string(e.Body))
		if err := p.Add(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.Bodies(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages out of order or lost:\n got %q\nwant %q", got, want)
	}
	if n := len(s.Batches()); n != 5 {
		t.Errorf("%d batches, want 5 (5 messages of 200 bytes in 1000)", n)
	}
	for i, b := range s.Batches() {
		if len(b) != 5 {
			t.Errorf("batch %d holds %d messages, want 5", i, len(b))
		}
	}
	if fmt.Sprint(sentSizes) != "[5 5 5 5 5]" {
		t.Errorf("Sent calls %v", sentSizes)
	}
	if b, m := p.Stats(); b != 5 || m != 25 {
		t.Errorf("Stats = %d, %d", b, m)
	}
	// Flush with nothing in hand sends nothing.
	if err := p.Flush(ctx); err != nil || len(s.Batches()) != 5 {
		t.Errorf("empty flush: %v, %d batches", err, len(s.Batches()))
	}
}

func TestPublisherMixedSizes(t *testing.T) {
	s := &ehtest.Sender{MaxBytes: 1000}
	p := &eventhubs.Publisher{Sender: s}
	ctx := context.Background()
	sizes := []int{900, 50, 60, 990, 20, 1000, 20}
	for i, n := range sizes {
		if err := p.Add(ctx, msg(i, n)); err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, n, err)
		}
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range s.Batches() {
		var ns []string
		for _, e := range b {
			ns = append(ns, fmt.Sprint(len(e.Body)))
		}
		got = append(got, strings.Join(ns, "+"))
	}
	if want := "900+50 | 60 | 990 | 20 | 1000 | 20"; strings.Join(got, " | ") != want {
		t.Errorf("batches %s, want %s", strings.Join(got, " | "), want)
	}
}

func TestPublisherRefusesAMessageLargerThanABatch(t *testing.T) {
	s := &ehtest.Sender{MaxBytes: 100}
	p := &eventhubs.Publisher{Sender: s}
	ctx := context.Background()
	if err := p.Add(ctx, msg(0, 50)); err != nil {
		t.Fatal(err)
	}
	err := p.Add(ctx, msg(1, 101))
	if !errors.Is(err, eventhubs.ErrTooLarge) || !strings.Contains(err.Error(), "101 bytes") {
		t.Fatalf("err = %v, want ErrTooLarge naming the size", err)
	}
	// What came before it was sent; nothing after.
	if got := s.Bodies(); len(got) != 1 {
		t.Errorf("sent %d messages, want the 1 before the large one", len(got))
	}
}

func TestPublisherSendFailureAndCancel(t *testing.T) {
	boom := errors.New("amqp: link detached")
	s := &ehtest.Sender{MaxBytes: 100, FailSend: boom, FailSendAt: 2}
	p := &eventhubs.Publisher{Sender: s}
	ctx, cancel := context.WithCancel(context.Background())
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = p.Add(ctx, msg(i, 60))
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "send a batch of 1 message") {
		t.Fatalf("err = %v, want the send failure", err)
	}
	if len(s.Batches()) != 1 {
		t.Errorf("%d batches sent, want 1 before the failure", len(s.Batches()))
	}
	cancel()
	if err := p.Add(ctx, msg(99, 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}

func TestSortByEnqueuedTimeIsStable(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 11, 2, 9, 0, s, 0, time.UTC) }
	evs := []eventhubs.Event{
		{Body: []byte("b1"), EnqueuedTime: at(2), PartitionID: "1"},
		{Body: []byte("a1"), EnqueuedTime: at(1), PartitionID: "0"},
		{Body: []byte("b2"), EnqueuedTime: at(2), PartitionID: "1"},
		{Body: []byte("a2"), EnqueuedTime: at(2), PartitionID: "0"},
	}
	eventhubs.SortByEnqueuedTime(evs)
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Body))
	}
	if strings.Join(got, " ") != "a1 b1 b2 a2" {
		t.Errorf("order %v", got)
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in, cloud string
		want      eventhubs.Target
		wantErr   string
	}{
		{"guard-eh/insights-activity-logs", "", eventhubs.Target{Namespace: "guard-eh.servicebus.windows.net", Hub: "insights-activity-logs", Cloud: "AzureCloud"}, ""},
		{"guard-eh/insights-activity-logs", "AzureCloud", eventhubs.Target{Namespace: "guard-eh.servicebus.windows.net", Hub: "insights-activity-logs", Cloud: "AzureCloud"}, ""},
		{"Guard-EH/insights-activity-logs", "AzureUSGovernment", eventhubs.Target{Namespace: "guard-eh.servicebus.usgovcloudapi.net", Hub: "insights-activity-logs", Cloud: "AzureUSGovernment"}, ""},
		{"guard-eh.servicebus.usgovcloudapi.net/hub", "", eventhubs.Target{Namespace: "guard-eh.servicebus.usgovcloudapi.net", Hub: "hub", Cloud: "AzureUSGovernment"}, ""},
		{"guard-eh.servicebus.usgovcloudapi.net/hub", "AzureUSGovernment", eventhubs.Target{Namespace: "guard-eh.servicebus.usgovcloudapi.net", Hub: "hub", Cloud: "AzureUSGovernment"}, ""},
		{"sb://guard-eh.servicebus.windows.net/hub/", "", eventhubs.Target{Namespace: "guard-eh.servicebus.windows.net", Hub: "hub", Cloud: "AzureCloud"}, ""},
		{"amqps://GUARD-EH.SERVICEBUS.USGOVCLOUDAPI.NET./hub", "", eventhubs.Target{Namespace: "guard-eh.servicebus.usgovcloudapi.net", Hub: "hub", Cloud: "AzureUSGovernment"}, ""},
		{"eh.privatelink.example.com/hub", "", eventhubs.Target{Namespace: "eh.privatelink.example.com", Hub: "hub"}, ""},
		{"eh.privatelink.example.com/hub", "AzureUSGovernment", eventhubs.Target{Namespace: "eh.privatelink.example.com", Hub: "hub", Cloud: "AzureUSGovernment"}, ""},
		{"guard-eh.servicebus.usgovcloudapi.net/hub", "AzureCloud", eventhubs.Target{}, "is in AzureUSGovernment, not AzureCloud"},
		{"guard-eh/hub", "AzureChinaCloud", eventhubs.Target{}, "unknown cloud"},
		{"guard-eh", "", eventhubs.Target{}, "want NAMESPACE/HUB"},
		{"/hub", "", eventhubs.Target{}, "want NAMESPACE/HUB"},
		{"guard-eh/", "", eventhubs.Target{}, "want NAMESPACE/HUB"},
		{"guard-eh/a/b", "", eventhubs.Target{}, "has a slash"},
		{"user@guard-eh/hub", "", eventhubs.Target{}, "not a namespace"},
	}
	for _, tt := range tests {
		got, err := eventhubs.ParseTarget(tt.in, tt.cloud)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTarget(%q, %q) = %+v, %v; want an error containing %q", tt.in, tt.cloud, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTarget(%q, %q) = %+v, %v; want %+v", tt.in, tt.cloud, got, err, tt.want)
		}
	}
	if !eventhubs.ShortName("guard-eh/hub") || eventhubs.ShortName("guard-eh.servicebus.windows.net/hub") || eventhubs.ShortName("sb://x.y/hub") {
		t.Error("ShortName")
	}
}

func TestSuffixAndCloudOf(t *testing.T) {
	if s, _ := eventhubs.Suffix("AzureUSGovernment"); s != "servicebus.usgovcloudapi.net" {
		t.Errorf("Gov suffix %q", s)
	}
	if s, _ := eventhubs.Suffix(""); s != "servicebus.windows.net" {
		t.Errorf("default suffix %q", s)
	}
	for host, want := range map[string]string{
		"x.servicebus.usgovcloudapi.net": "AzureUSGovernment", "x.servicebus.windows.net": "AzureCloud",
		"servicebus.windows.net": "", "x.servicebus.windows.net.evil.com": "", "localhost": "",
	} {
		if got := eventhubs.CloudOf(host); got != want {
			t.Errorf("CloudOf(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestStartPosition(t *testing.T) {
	since := time.Date(2026, 11, 2, 9, 0, 0, 0, time.FixedZone("EST", -5*3600))
	sp := eventhubs.ConsumerOptions{Since: since}.StartPositionForTest()
	if sp.EnqueuedTime == nil || !sp.EnqueuedTime.Equal(since) || sp.EnqueuedTime.Location() != time.UTC || !sp.Inclusive || sp.Latest != nil {
		t.Errorf("--since: %+v", sp)
	}
	sp = eventhubs.ConsumerOptions{}.StartPositionForTest()
	if sp.Latest == nil || !*sp.Latest || sp.EnqueuedTime != nil {
		t.Errorf("default: %+v", sp)
	}
}

// A namespace that does not answer AMQP fails NewConsumer with an error naming
// the hub, without hanging, and never echoes the connection string's key.
func TestNewConsumerFailsOnADeadEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close() // not AMQP
		}
	}()
	defer ln.Close()
	cs := "Endpoint=sb://" + ln.Addr().String() + ";SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=c2VjcmV0LWtleQ==;UseDevelopmentEmulator=true;"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	target := eventhubs.Target{Namespace: ln.Addr().String(), Hub: "insights-activity-logs"}
	_, err = eventhubs.NewConsumer(ctx, target, eventhubs.ConsumerOptions{
		Options: eventhubs.Options{ConnectionString: cs, Retry: &azeventhubs.RetryOptions{MaxRetries: -1}},
	})
	if err == nil {
		t.Fatal("NewConsumer succeeded against a listener that speaks no AMQP")
	}
	t.Logf("NewConsumer: %v", err)
	if !strings.Contains(err.Error(), "insights-activity-logs") || strings.Contains(err.Error(), "c2VjcmV0LWtleQ") {
		t.Errorf("err = %v: want the hub named and no key", err)
	}
	if ctx.Err() != nil {
		t.Error("NewConsumer ran until the test's deadline")
	}
}

func TestNewProducerNeedsNoNetwork(t *testing.T) {
	p, err := eventhubs.NewProducer(eventhubs.Target{Namespace: "127.0.0.1:1", Hub: "h"}, eventhubs.ProducerOptions{
		Options: eventhubs.Options{ConnectionString: "Endpoint=sb://127.0.0.1:1;SharedAccessKeyName=k;SharedAccessKey=a2V5;UseDevelopmentEmulator=true;"},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Close(context.Background())
	if _, err := eventhubs.NewProducer(eventhubs.Target{Namespace: "x", Hub: "h"}, eventhubs.ProducerOptions{
		Options: eventhubs.Options{ConnectionString: "not a connection string"},
	}); err == nil {
		t.Error("a malformed connection string was accepted")
	}
}

func TestWithConnectionString(t *testing.T) {
	base := eventhubs.Target{Namespace: "x.servicebus.windows.net", Hub: "insights-activity-logs", Cloud: "AzureCloud"}
	for cs, want := range map[string]eventhubs.Target{
		"Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;": {Namespace: "localhost", Hub: "insights-activity-logs"},
		"Endpoint=sb://127.0.0.1:5672/;SharedAccessKeyName=k;SharedAccessKey=v":                                                            {Namespace: "127.0.0.1:5672", Hub: "insights-activity-logs"},
		"endpoint=sb://eh.servicebus.usgovcloudapi.net/;SharedAccessKeyName=k;SharedAccessKey=v":                                           {Namespace: "eh.servicebus.usgovcloudapi.net", Hub: "insights-activity-logs", Cloud: "AzureUSGovernment"},
	} {
		got, err := base.WithConnectionString(cs)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", cs, got, err, want)
		}
	}
	for _, bad := range []string{"", "SharedAccessKey=c2VjcmV0", "Endpoint=sb://;SharedAccessKey=c2VjcmV0"} {
		_, err := base.WithConnectionString(bad)
		if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
