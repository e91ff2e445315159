package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/exportguard/exportguard/bench/workload"
	"github.com/exportguard/exportguard/pkg/functions"
	"github.com/exportguard/exportguard/pkg/guard"
)

// Chunks feeds fn the stream's items a chunk at a time (one Event Hubs batch and
// the Event Grid events that follow it, about a hundred records) until at
// least n records have been handed over. The workload is made between chunks,
// outside fn, so that a measured section inside fn holds only its own work;
// one chunk is held at a time. It returns the records handed over.
func Chunks(s *workload.Stream, n int, fn func(items []workload.Item, records int) error) (int, error) {
	total := 0
	var items []workload.Item
	for total < n {
		items = items[:0]
		recs := 0
		for recs < workload.BatchRecords && total+recs < n {
			it := s.Next()
			items = append(items, it)
			recs += it.Records
		}
		if err := fn(items, recs); err != nil {
			return total, err
		}
		total += recs
	}
	return total, nil
}

// ALMinimal is the smallest struct a decoder of Activity Log messages could
// fill: the fields that identify an operation.
type ALMinimal struct {
	Records []struct {
		Time          string `json:"time"`
		ResourceID    string `json:"resourceId"`
		OperationName string `json:"operationName"`
		ResultType    string `json:"resultType"`
		CorrelationID string `json:"correlationId"`
	} `json:"records"`
}

// EGMinimal is the same for an Event Grid event, in either schema.
type EGMinimal struct {
	ID        string `json:"id"`
	EventType string `json:"eventType"`
	Type      string `json:"type"`
	Subject   string `json:"subject"`
	EventTime string `json:"eventTime"`
	Time      string `json:"time"`
	Data      struct {
		ResourceURI   string `json:"resourceUri"`
		OperationName string `json:"operationName"`
		CorrelationID string `json:"correlationId"`
		Status        string `json:"status"`
	} `json:"data"`
}

// PlainDecode is the floor: encoding/json decoding of the same message bytes,
// into map[string]any (generic) and into the minimal structs, and nothing else.
func PlainDecode(s *workload.Stream, n int, generic, minimal *Meter) (int, error) {
	return Chunks(s, n, func(items []workload.Item, recs int) error {
		sec := generic.Start()
		for _, it := range items {
			for _, b := range it.Bodies {
				var v map[string]any
				if err := json.Unmarshal(b, &v); err != nil {
					return err
				}
			}
		}
		generic.Stop(sec, recs)
		sec = minimal.Start()
		for _, it := range items {
			for _, b := range it.Bodies {
				var err error
				if it.Source == guard.SourceEventHub {
					var v ALMinimal
					err = json.Unmarshal(b, &v)
				} else {
					var v EGMinimal
					err = json.Unmarshal(b, &v)
				}
				if err != nil {
					return err
				}
			}
		}
		minimal.Stop(sec, recs)
		return nil
	})
}

// RunPipeline feeds n records through the pipeline in process: an Event Hubs
// batch is one IngestAll of its message bodies and an event one Ingest, as the
// handler does. batchLat, when set, gets the time each Event Hubs batch of
// workload.BatchRecords records took, IngestAll to its return (findings stored).
func RunPipeline(ctx context.Context, e *Env, s *workload.Stream, n int, m *Meter, batchLat *Meter) (guard.Summary, int, error) {
	var sum guard.Summary
	total, err := Chunks(s, n, func(items []workload.Item, recs int) error {
		sec := m.Start()
		for _, it := range items {
			e.Clock.Set(it.Now)
			t0 := time.Now()
			got, err := e.Pipeline.IngestAll(ctx, it.Source, it.Bodies, it.Now)
			sum.Add(got)
			if err != nil {
				return err
			}
			if batchLat != nil && it.Source == guard.SourceEventHub {
				d := time.Since(t0)
				batchLat.Lat = append(batchLat.Lat, d)
				batchLat.Wall += d
				batchLat.Records += it.Records
			}
		}
		m.Stop(sec, recs)
		return nil
	})
	return sum, total, err
}

// HostActivityLogInvocation builds the body the Functions host POSTs to
// /activitylog for an eventHubTrigger with cardinality many and dataType
// string: Data.events is a JSON string holding a JSON array of the message
// bodies, encoded once more (as internal/cli/handler_test.go builds it, after
// research/functions-custom-handler.md §2.1, §2.5).
func HostActivityLogInvocation(bodies [][]byte, enqueued time.Time) []byte {
	strs := make([]string, len(bodies))
	for i, b := range bodies {
		strs[i] = string(b)
	}
	arr, _ := json.Marshal(strs)
	once, _ := json.Marshal(string(arr))
	twice, _ := json.Marshal(string(once))
	n := len(bodies)
	list := func(v string) string {
		s := "[" + strings.TrimSuffix(strings.Repeat(v+",", n), ",") + "]"
		b, _ := json.Marshal(s)
		return string(b)
	}
	at := enqueued.UTC().Format("2006-01-02T15:04:05.000")
	var b bytes.Buffer
	b.Grow(len(twice) + 512 + 64*n)
	b.WriteString(`{"Data":{"events":`)
	b.Write(twice)
	b.WriteString(`},"Metadata":{"PartitionContext":{"FullyQualifiedNamespace":"eh-exportguard.servicebus.windows.net","EventHubName":"insights-activity-logs","ConsumerGroup":"$Default","PartitionId":"0"},`)
	b.WriteString(`"PartitionKeyArray":` + list("null") + `,"SequenceNumberArray":` + list("59") + `,`)
	b.WriteString(`"EnqueuedTimeUtcArray":` + list(`"`+at+`"`) + `,"PropertiesArray":` + list("{}") + `,`)
	b.WriteString(`"sys":{"MethodName":"activitylog","UtcNow":"` + at + `Z","RandGuid":"4e773554-f6b7-4ea2-b07d-4c5fd5aba741"}}}`)
	return b.Bytes()
}

// HostEventGridInvocation builds the body the host POSTs to /resourceevents for
// an eventGridTrigger: Data.event is the event object.
func HostEventGridInvocation(event []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(event) + 200)
	b.WriteString(`{"Data":{"event":`)
	b.Write(event)
	b.WriteString(`},"Metadata":{"sys":{"MethodName":"resourceevents","UtcNow":"2026-11-02T10:31:48.0001Z","RandGuid":"0b5e1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d"}}}`)
	return b.Bytes()
}

// HTTPServer serves the custom handler over the pipeline on a loopback port.
func HTTPServer(e *Env) *httptest.Server {
	h := functions.NewHandler(functions.Options{
		Ingester: e.Pipeline,
		Now:      e.Clock.Now,
		Logger:   e.Log,
		Ready: func(ctx context.Context) error {
			_, err := e.Store.Processed(ctx, "~readiness", "readiness-probe")
			return err
		},
		MaxBodyBytes: functions.BodyLimit(8), // as serve sets it from host.json
	})
	return httptest.NewServer(h)
}

// HostRequest is one invocation the Functions host would POST.
type HostRequest struct {
	Path     string
	Body     []byte
	Now      time.Time
	Records  int
	EventHub bool
}

// HostRequests turns items into the host's invocations: each Event Hubs batch
// is one /activitylog invocation, each Event Grid event one /resourceevents
// invocation.
func HostRequests(items []workload.Item) []HostRequest {
	out := make([]HostRequest, 0, len(items))
	for _, it := range items {
		if it.Source == guard.SourceEventHub {
			out = append(out, HostRequest{"/activitylog", HostActivityLogInvocation(it.Bodies, it.Now), it.Now, it.Records, true})
		} else {
			out = append(out, HostRequest{"/resourceevents", HostEventGridInvocation(it.Bodies[0]), it.Now, it.Records, false})
		}
	}
	return out
}

// Post sends one invocation and reads the answer, which must be 200.
func Post(ctx context.Context, e *Env, srv *httptest.Server, r HostRequest) error {
	e.Clock.Set(r.Now)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Azure-Functions-InvocationId", "6a8b1c2d-3e4f-4a5b-8c7d-9e0f1a2b3c4d")
	resp, err := srv.Client().Do(hr)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", r.Path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// RunHTTP POSTs n records to the handler over loopback HTTP as the Functions
// host would (HostRequests), one invocation at a time, as one Event Hubs
// partition is processed. batchLat gets, per Event Hubs batch of
// workload.BatchRecords records, the time from sending the request to reading
// the 200 response: the handler answers after every finding is stored.
func RunHTTP(ctx context.Context, e *Env, srv *httptest.Server, s *workload.Stream, n int, m *Meter, batchLat *Meter) (int, error) {
	return Chunks(s, n, func(items []workload.Item, recs int) error {
		reqs := HostRequests(items)
		sec := m.Start()
		for _, r := range reqs {
			t0 := time.Now()
			if err := Post(ctx, e, srv, r); err != nil {
				return err
			}
			if batchLat != nil && r.EventHub {
				d := time.Since(t0)
				batchLat.Lat = append(batchLat.Lat, d)
				batchLat.Wall += d
				batchLat.Records += r.Records
			}
		}
		m.Stop(sec, recs)
		return nil
	})
}
