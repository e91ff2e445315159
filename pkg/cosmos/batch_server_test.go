package cosmos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"

	"github.com/exportguard/exportguard/pkg/cosmos/cosmostest"
)

// These tests check the local server itself (pkg/cosmos/testdata/cosmosdb-server.js):
// that transactional batches, sent by azcosmos's ExecuteTransactionalBatch,
// behave as Cosmos DB documents them (all or nothing, the failing operation's
// status and 424 for the others, ETag preconditions, every operation type),
// and that it counts the requests it receives. A store built on batches is
// only tested if the server under it keeps these promises.

// bdoc is a document of the batch tests' container, partitioned by /pk.
type bdoc struct {
	ID string `json:"id"`
	PK string `json:"pk"`
	V  string `json:"v"`
}

// part is the partition every batch of these tests runs in.
const part = "p"

var partKey = azcosmos.NewPartitionKeyString(part)

func mk(id, v string) []byte { return mkIn(part, id, v) }

func mkIn(pk, id, v string) []byte {
	b, _ := json.Marshal(bdoc{ID: id, PK: pk, V: v})
	return b
}

// batchContainer returns a container partitioned by /pk in a database of its
// own on the server at endpoint, dropped at cleanup. Its client does not
// retry, so that no answer of the server is hidden behind a second try.
func batchContainer(t *testing.T, endpoint string, transport policy.Transporter) *azcosmos.ContainerClient {
	t.Helper()
	cred, err := azcosmos.NewKeyCredential(cosmostest.Key)
	if err != nil {
		t.Fatal(err)
	}
	o := &azcosmos.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
	if transport != nil {
		o.Transport = transport
	}
	client, err := azcosmos.NewClientWithKey(endpoint, cred, o)
	if err != nil {
		t.Fatal(err)
	}
	name := newDatabaseName()
	if _, err := client.CreateDatabase(t.Context(), azcosmos.DatabaseProperties{ID: name}, nil); err != nil {
		t.Fatalf("create database: %v", err)
	}
	db, err := client.NewDatabase(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.Delete(ctx, nil)
	})
	props := azcosmos.ContainerProperties{ID: "batch",
		PartitionKeyDefinition: azcosmos.PartitionKeyDefinition{Paths: []string{"/pk"}}}
	if _, err := db.CreateContainer(t.Context(), props, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	c, err := db.NewContainer("batch")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seed creates documents outside any batch and returns their ETags by ID.
func seed(t *testing.T, c *azcosmos.ContainerClient, docs ...bdoc) map[string]azcore.ETag {
	t.Helper()
	etags := map[string]azcore.ETag{}
	for _, d := range docs {
		if d.PK == "" {
			d.PK = part
		}
		b, _ := json.Marshal(d)
		r, err := c.CreateItem(t.Context(), azcosmos.NewPartitionKeyString(d.PK), b, nil)
		if err != nil {
			t.Fatalf("seed %s: %v", d.ID, err)
		}
		etags[d.ID] = r.ETag
	}
	return etags
}

// state reads a document of partition pk: its v, its ETag, whether it exists.
func state(t *testing.T, c *azcosmos.ContainerClient, pk, id string) (string, azcore.ETag, bool) {
	t.Helper()
	r, err := c.ReadItem(t.Context(), azcosmos.NewPartitionKeyString(pk), id, nil)
	if isStatus(err, http.StatusNotFound) {
		return "", "", false
	}
	if err != nil {
		t.Fatalf("read %s/%s: %v", pk, id, err)
	}
	var d bdoc
	if err := json.Unmarshal(r.Value, &d); err != nil {
		t.Fatalf("read %s/%s: %v: %s", pk, id, err, r.Value)
	}
	return d.V, r.ETag, true
}

// absent fails the test if any of ids exists in the test partition.
func absent(t *testing.T, c *azcosmos.ContainerClient, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if v, _, ok := state(t, c, part, id); ok {
			t.Errorf("%s exists (v of %d bytes) after a batch that failed", id, len(v))
		}
	}
}

// unchanged fails the test unless id still holds v under etag.
func unchanged(t *testing.T, c *azcosmos.ContainerClient, id, v string, etag azcore.ETag) {
	t.Helper()
	got, gotTag, ok := state(t, c, part, id)
	if !ok || got != v || gotTag != etag {
		t.Errorf("%s: got v=%q etag %q exists=%v, want it untouched: v=%q etag %q", id, got, gotTag, ok, v, etag)
	}
}

func run(t *testing.T, c *azcosmos.ContainerClient, b azcosmos.TransactionalBatch, o *azcosmos.TransactionalBatchOptions) azcosmos.TransactionalBatchResponse {
	t.Helper()
	r, err := c.ExecuteTransactionalBatch(t.Context(), b, o)
	if err != nil {
		t.Fatalf("ExecuteTransactionalBatch: %v", err)
	}
	return r
}

func statuses(r azcosmos.TransactionalBatchResponse) []int32 {
	var s []int32
	for _, op := range r.OperationResults {
		s = append(s, op.StatusCode)
	}
	return s
}

// failed checks a batch that must fail: HTTP 207, Success false, and the
// per-operation statuses want (the failing one's, 424 for the others).
func failed(t *testing.T, r azcosmos.TransactionalBatchResponse, want ...int32) {
	t.Helper()
	if r.Success {
		t.Errorf("Success is true, want false (statuses %v)", statuses(r))
	}
	if got := r.RawResponse.StatusCode; got != http.StatusMultiStatus {
		t.Errorf("HTTP status %d, want 207 Multi-Status", got)
	}
	if got := statuses(r); !slices.Equal(got, want) {
		t.Errorf("operation statuses %v, want %v", got, want)
	}
}

func succeeded(t *testing.T, r azcosmos.TransactionalBatchResponse, want ...int32) {
	t.Helper()
	if !r.Success || r.RawResponse.StatusCode != http.StatusOK {
		t.Errorf("Success %v, HTTP %d, want true and 200 (statuses %v)", r.Success, r.RawResponse.StatusCode, statuses(r))
	}
	if got := statuses(r); !slices.Equal(got, want) {
		t.Errorf("operation statuses %v, want %v", got, want)
	}
}

func ifMatch(e azcore.ETag) *azcosmos.TransactionalBatchItemOptions {
	return &azcosmos.TransactionalBatchItemOptions{IfMatchETag: &e}
}

// TestBatchServerConflictKeepsNothing: the second operation fails with 409, so
// the first is undone, the third is not applied, and the answer names the
// conflict and 424 Failed Dependency for the rest.
func TestBatchServerConflictKeepsNothing(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	tags := seed(t, c, bdoc{ID: "b", V: "orig"})

	b := c.NewTransactionalBatch(partKey)
	b.CreateItem(mk("a", "new"), nil)
	b.CreateItem(mk("b", "new"), nil)
	b.CreateItem(mk("c", "new"), nil)
	failed(t, run(t, c, b, nil), 424, 409, 424)

	absent(t, c, "a", "c")
	unchanged(t, c, "b", "orig", tags["b"])
}

// TestBatchServerStaleETag: an operation whose ifMatch is stale fails with 412
// and nothing of the batch is applied, for every operation that takes one.
func TestBatchServerStaleETag(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	stale := seed(t, c, bdoc{ID: "x", V: "v1"})["x"]
	r, err := c.ReplaceItem(t.Context(), partKey, "x", mk("x", "v2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	current := r.ETag
	if current == stale {
		t.Fatal("a replace kept the ETag")
	}
	patch := azcosmos.PatchOperations{}
	patch.AppendSet("/v", "patched")
	for name, add := range map[string]func(b *azcosmos.TransactionalBatch){
		"replace": func(b *azcosmos.TransactionalBatch) { b.ReplaceItem("x", mk("x", "v3"), ifMatch(stale)) },
		"upsert":  func(b *azcosmos.TransactionalBatch) { b.UpsertItem(mk("x", "v3"), ifMatch(stale)) },
		"delete":  func(b *azcosmos.TransactionalBatch) { b.DeleteItem("x", ifMatch(stale)) },
		"patch":   func(b *azcosmos.TransactionalBatch) { b.PatchItem("x", patch, ifMatch(stale)) },
	} {
		t.Run(name, func(t *testing.T) {
			b := c.NewTransactionalBatch(partKey)
			b.UpsertItem(mk("y-"+name, "new"), nil)
			add(&b)
			failed(t, run(t, c, b, nil), 424, 412)
			absent(t, c, "y-"+name)
			unchanged(t, c, "x", "v2", current)
		})
	}
}

// TestBatchServerRollbackRestoresEverything: what a failed batch undoes is
// put back exactly: replaced, upserted, patched and deleted documents return
// with their content and ETags, stay findable by reads and queries, and take
// conditional writes on those ETags.
func TestBatchServerRollbackRestoresEverything(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	tags := seed(t, c, bdoc{ID: "r", V: "r0"}, bdoc{ID: "u", V: "u0"}, bdoc{ID: "q", V: "q0"},
		bdoc{ID: "d", V: "d0"}, bdoc{ID: "dup", V: "dup0"})
	patch := azcosmos.PatchOperations{}
	patch.AppendSet("/v", "q1")

	b := c.NewTransactionalBatch(partKey)
	b.ReplaceItem("r", mk("r", "r1"), ifMatch(tags["r"]))
	b.UpsertItem(mk("u", "u1"), nil)
	b.PatchItem("q", patch, nil)
	b.DeleteItem("d", nil)
	b.CreateItem(mk("n", "n0"), nil)
	b.ReplaceItem("n", mk("n", "n1"), nil)
	b.CreateItem(mk("dup", "dup1"), nil) // 409
	failed(t, run(t, c, b, nil), 424, 424, 424, 424, 424, 424, 409)

	for id, v := range map[string]string{"r": "r0", "u": "u0", "q": "q0", "d": "d0", "dup": "dup0"} {
		unchanged(t, c, id, v, tags[id])
	}
	absent(t, c, "n")
	pager := c.NewQueryItemsPager("SELECT c.id FROM c", partKey, nil)
	var ids []string
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			var d bdoc
			json.Unmarshal(item, &d)
			ids = append(ids, d.ID)
		}
	}
	slices.Sort(ids)
	if want := []string{"d", "dup", "q", "r", "u"}; !slices.Equal(ids, want) {
		t.Errorf("a query after the rollback finds %v, want %v", ids, want)
	}

	// The restored ETags are live: a batch conditional on them commits.
	b = c.NewTransactionalBatch(partKey)
	b.ReplaceItem("r", mk("r", "r2"), ifMatch(tags["r"]))
	b.DeleteItem("d", ifMatch(tags["d"]))
	succeeded(t, run(t, c, b, nil), 200, 204)
	absent(t, c, "d")
}

// TestBatchServerConcurrentIfMatch: batches racing on one document with the
// same ifMatch: exactly one commits, every other fails with 412 and leaves
// nothing of itself behind.
func TestBatchServerConcurrentIfMatch(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	tag := seed(t, c, bdoc{ID: "x", V: "v0"})["x"]
	const writers = 16
	var wg sync.WaitGroup
	results := make([]azcosmos.TransactionalBatchResponse, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			b := c.NewTransactionalBatch(partKey)
			b.CreateItem(mk(fmt.Sprintf("side-%d", i), "v"), nil)
			b.ReplaceItem("x", mk("x", fmt.Sprintf("w%d", i)), ifMatch(tag))
			results[i], errs[i] = c.ExecuteTransactionalBatch(context.Background(), b, nil)
		})
	}
	wg.Wait()
	winner := -1
	for i := range writers {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if results[i].Success {
			if winner >= 0 {
				t.Fatalf("writers %d and %d both committed on etag %q", winner, i, tag)
			}
			winner = i
			continue
		}
		if got := statuses(results[i]); !slices.Equal(got, []int32{424, 412}) {
			t.Errorf("writer %d: statuses %v, want [424 412]", i, got)
		}
		absent(t, c, fmt.Sprintf("side-%d", i))
	}
	if winner < 0 {
		t.Fatal("no writer committed")
	}
	if v, _, _ := state(t, c, part, "x"); v != fmt.Sprintf("w%d", winner) {
		t.Errorf("x: v=%q, want the winner's w%d", v, winner)
	}
	if _, _, ok := state(t, c, part, fmt.Sprintf("side-%d", winner)); !ok {
		t.Errorf("the winner's create is missing")
	}
}

// TestBatchServerReplace: a replace inside a batch works, with or without
// ifMatch, and answers the document's new ETag.
func TestBatchServerReplace(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	tag := seed(t, c, bdoc{ID: "x", V: "v1"})["x"]

	b := c.NewTransactionalBatch(partKey)
	b.ReplaceItem("x", mk("x", "v2"), ifMatch(tag))
	r := run(t, c, b, nil)
	succeeded(t, r, 200)
	v, now, _ := state(t, c, part, "x")
	if v != "v2" || now == tag || r.OperationResults[0].ETag != now {
		t.Errorf("after the replace: v=%q etag %q (before %q), the batch answered etag %q; want v2 under the answered, new etag",
			v, now, tag, r.OperationResults[0].ETag)
	}

	b = c.NewTransactionalBatch(partKey)
	b.ReplaceItem("x", mk("x", "v3"), nil)
	succeeded(t, run(t, c, b, nil), 200)
	if v, _, _ := state(t, c, part, "x"); v != "v3" {
		t.Errorf("after an unconditional replace: v=%q, want v3", v)
	}
}

// TestBatchServerMixed: every operation type in one batch, applied in order
// (a replace sees the create before it), with their documented statuses.
func TestBatchServerMixed(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	tags := seed(t, c, bdoc{ID: "r", V: "r0"}, bdoc{ID: "u", V: "u0"}, bdoc{ID: "p", V: "p0"},
		bdoc{ID: "d", V: "d0"}, bdoc{ID: "q", V: "q0"})
	patch := azcosmos.PatchOperations{}
	patch.AppendSet("/v", "q1")

	b := c.NewTransactionalBatch(partKey)
	b.CreateItem(mk("n", "n0"), nil)                      // 201
	b.ReadItem("r", nil)                                  // 200
	b.ReplaceItem("p", mk("p", "p1"), ifMatch(tags["p"])) // 200
	b.UpsertItem(mk("u", "u1"), ifMatch(tags["u"]))       // 200: it existed
	b.UpsertItem(mk("w", "w0"), nil)                      // 201: it did not
	b.DeleteItem("d", ifMatch(tags["d"]))                 // 204
	b.PatchItem("q", patch, ifMatch(tags["q"]))           // 200
	b.ReplaceItem("n", mk("n", "n1"), nil)                // 200: the create above is visible
	r := run(t, c, b, nil)
	succeeded(t, r, 201, 200, 200, 200, 201, 204, 200, 200)

	var read bdoc
	if err := json.Unmarshal(r.OperationResults[1].ResourceBody, &read); err != nil || read.V != "r0" {
		t.Errorf("the read answered %s (%v), want the document with v=r0", r.OperationResults[1].ResourceBody, err)
	}
	if r.OperationResults[1].ETag != tags["r"] {
		t.Errorf("the read answered etag %q, want %q", r.OperationResults[1].ETag, tags["r"])
	}
	for i, want := range map[int]struct{ id, v string }{2: {"p", "p1"}, 3: {"u", "u1"}, 4: {"w", "w0"}, 6: {"q", "q1"}, 7: {"n", "n1"}} {
		v, tag, ok := state(t, c, part, want.id)
		if !ok || v != want.v {
			t.Errorf("%s: v=%q exists=%v, want v=%q", want.id, v, ok, want.v)
		}
		if got := r.OperationResults[i].ETag; got != tag {
			t.Errorf("operation %d (%s) answered etag %q, the document has %q", i, want.id, got, tag)
		}
	}
	absent(t, c, "d")
}

// TestBatchServerResponseBodies: writes answer no body unless asked
// (azcosmos sends Prefer: return=minimal by default); reads always do.
func TestBatchServerResponseBodies(t *testing.T) {
	c := batchContainer(t, server(t), nil)

	b := c.NewTransactionalBatch(partKey)
	b.CreateItem(mk("a", "a0"), nil)
	r := run(t, c, b, nil)
	succeeded(t, r, 201)
	if op := r.OperationResults[0]; op.ResourceBody != nil || op.ETag == "" {
		t.Errorf("a create with minimal content answered body %s, etag %q; want no body and an etag", op.ResourceBody, op.ETag)
	}

	b = c.NewTransactionalBatch(partKey)
	b.CreateItem(mk("b", "b0"), nil)
	r = run(t, c, b, &azcosmos.TransactionalBatchOptions{EnableContentResponseOnWrite: true})
	succeeded(t, r, 201)
	var got bdoc
	if err := json.Unmarshal(r.OperationResults[0].ResourceBody, &got); err != nil || got.ID != "b" || got.V != "b0" {
		t.Errorf("a create asked for content answered %s (%v), want the document", r.OperationResults[0].ResourceBody, err)
	}
}

// TestBatchServerMissingDocument: replace, delete, read and patch of a
// document that does not exist fail with 404, and the batch with them.
func TestBatchServerMissingDocument(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	patch := azcosmos.PatchOperations{}
	patch.AppendSet("/v", "x")
	for name, add := range map[string]func(b *azcosmos.TransactionalBatch){
		"replace": func(b *azcosmos.TransactionalBatch) { b.ReplaceItem("missing", mk("missing", "v"), nil) },
		"delete":  func(b *azcosmos.TransactionalBatch) { b.DeleteItem("missing", nil) },
		"read":    func(b *azcosmos.TransactionalBatch) { b.ReadItem("missing", nil) },
		"patch":   func(b *azcosmos.TransactionalBatch) { b.PatchItem("missing", patch, nil) },
	} {
		t.Run(name, func(t *testing.T) {
			b := c.NewTransactionalBatch(partKey)
			b.CreateItem(mk("a-"+name, "v"), nil)
			add(&b)
			b.CreateItem(mk("b-"+name, "v"), nil)
			failed(t, run(t, c, b, nil), 424, 404, 424)
			absent(t, c, "a-"+name, "b-"+name, "missing")
		})
	}
}

// TestBatchServerPartitionKey: every operation of a batch is in the batch's
// partition; a document of another partition fails with 400 and the batch
// with it.
func TestBatchServerPartitionKey(t *testing.T) {
	c := batchContainer(t, server(t), nil)
	seed(t, c, bdoc{ID: "x", V: "v1"})
	for name, add := range map[string]func(b *azcosmos.TransactionalBatch){
		"create":  func(b *azcosmos.TransactionalBatch) { b.CreateItem(mkIn("other", "z", "v"), nil) },
		"upsert":  func(b *azcosmos.TransactionalBatch) { b.UpsertItem(mkIn("other", "z", "v"), nil) },
		"replace": func(b *azcosmos.TransactionalBatch) { b.ReplaceItem("x", mkIn("other", "x", "v2"), nil) },
	} {
		t.Run(name, func(t *testing.T) {
			b := c.NewTransactionalBatch(partKey)
			b.CreateItem(mk("a-"+name, "v"), nil)
			add(&b)
			failed(t, run(t, c, b, nil), 424, 400)
			absent(t, c, "a-"+name)
			if _, _, ok := state(t, c, "other", "z"); ok {
				t.Error("the document of the other partition was created")
			}
			if v, _, _ := state(t, c, part, "x"); v != "v1" {
				t.Errorf("x: v=%q, want v1", v)
			}
		})
	}
}

// TestBatchServerLimits: at most 100 operations (400 beyond) and 2 MB of
// request (413 beyond), refused whole, before anything is applied.
func TestBatchServerLimits(t *testing.T) {
	c := batchContainer(t, server(t), nil)

	b := c.NewTransactionalBatch(partKey)
	for i := range 100 {
		b.CreateItem(mk(fmt.Sprintf("ok-%d", i), "v"), nil)
	}
	r := run(t, c, b, nil)
	if !r.Success || len(r.OperationResults) != 100 {
		t.Errorf("a batch of 100 creates: Success %v, %d results; want it done", r.Success, len(r.OperationResults))
	}

	b = c.NewTransactionalBatch(partKey)
	for i := range 101 {
		b.CreateItem(mk(fmt.Sprintf("many-%d", i), "v"), nil)
	}
	if _, err := c.ExecuteTransactionalBatch(t.Context(), b, nil); !isStatus(err, http.StatusBadRequest) {
		t.Errorf("a batch of 101 operations: got %v, want 400", err)
	}
	absent(t, c, "many-0", "many-100")

	big := strings.Repeat("x", 800<<10)
	b = c.NewTransactionalBatch(partKey)
	for i := range 3 {
		b.CreateItem(mk(fmt.Sprintf("big-%d", i), big), nil)
	}
	if _, err := c.ExecuteTransactionalBatch(t.Context(), b, nil); !isStatus(err, http.StatusRequestEntityTooLarge) {
		t.Errorf("a batch of 2.4 MB: got %v, want 413", err)
	}
	absent(t, c, "big-0", "big-1", "big-2")
}

// tally is a transport that counts what the client sends and receives, to
// compare with what the server counted.
type tally struct {
	mu                sync.Mutex
	requests          int64
	byMethod          map[string]int64
	bytesIn, bytesOut int64 // request and response bodies, as the server sees them
	next              policy.Transporter
}

func (t *tally) Do(req *http.Request) (*http.Response, error) {
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.Do(req)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(out))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests++
	t.byMethod[req.Method]++
	t.bytesIn += int64(len(body))
	t.bytesOut += int64(len(out))
	return resp, err
}

func (t *tally) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests, t.byMethod, t.bytesIn, t.bytesOut = 0, map[string]int64{}, 0, 0
}

// TestBatchServerCounts: the server counts every request it receives, a batch
// as one request with its operations counted apart, bytes of bodies in and
// out, and not the requests that read the counts. A server of its own, so
// that no other test's requests are counted.
func TestBatchServerCounts(t *testing.T) {
	srv := cosmostest.StartForTest(t)
	tr := &tally{next: http.DefaultClient}
	tr.reset()
	c := batchContainer(t, srv.Endpoint, tr)
	seed(t, c, bdoc{ID: "r", V: "r0"})

	if _, err := cosmostest.ResetCounts(t.Context(), srv.Endpoint); err != nil {
		t.Fatal(err)
	}
	tr.reset()
	b := c.NewTransactionalBatch(partKey)
	b.CreateItem(mk("a", "v"), nil)
	b.UpsertItem(mk("b", "v"), nil)
	b.ReadItem("r", nil)
	succeeded(t, run(t, c, b, nil), 201, 201, 200)

	got, err := cosmostest.ReadCounts(t.Context(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if tr.requests != 1 || got.Requests != 1 || got.ByMethod["POST"] != 1 || got.ByKind["POST_BATCH"] != 1 ||
		got.Batches != 1 || got.BatchOps != 3 {
		t.Errorf("after one batch of 3 operations (the client sent %d requests): counted %+v; want 1 request, 1 POST_BATCH, 1 batch, 3 operations",
			tr.requests, got)
	}
	if got.BytesIn != tr.bytesIn || got.BytesOut != tr.bytesOut || got.BytesIn == 0 || got.BytesOut == 0 {
		t.Errorf("counted %d bytes in and %d out; the client sent %d and received %d", got.BytesIn, got.BytesOut, tr.bytesIn, tr.bytesOut)
	}
	again, err := cosmostest.ReadCounts(t.Context(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if again.Requests != got.Requests || again.BytesOut != got.BytesOut {
		t.Errorf("reading the counts was counted: %+v, then %+v", got, again)
	}

	// Other requests: a point read and a query, each one request.
	tr.reset()
	if _, _, ok := state(t, c, part, "a"); !ok {
		t.Fatal("the batch's create is not there")
	}
	pager := c.NewQueryItemsPager("SELECT * FROM c", partKey, nil)
	for pager.More() {
		if _, err := pager.NextPage(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	before, err := cosmostest.ResetCounts(t.Context(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if before.Requests != 1+tr.requests || before.ByMethod["GET"] != got.ByMethod["GET"]+tr.byMethod["GET"] ||
		before.ByKind["POST_QUERY"] != tr.byMethod["POST"] || before.Batches != 1 ||
		before.BytesOut != got.BytesOut+tr.bytesOut {
		t.Errorf("after a read and a query (the client sent %d requests, %v): counted %+v", tr.requests, tr.byMethod, before)
	}
	zero, err := cosmostest.ReadCounts(t.Context(), srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if zero.Requests != 0 || zero.BytesIn != 0 || zero.BytesOut != 0 || zero.Batches != 0 || zero.BatchOps != 0 || len(zero.ByMethod) != 0 {
		t.Errorf("after a reset: %+v, want all zero", zero)
	}
}
