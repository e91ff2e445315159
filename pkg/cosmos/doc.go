// Package cosmos is exportguard's store in Azure Cosmos DB (NoSQL API): the
// guard.Store a deployment shares between all its Functions instances, for as
// many subscriptions as it guards. It passes the same contract suite
// (pkg/storetest) as the embedded SQLite store, against a real Cosmos-compatible
// server in its tests.
//
// # Containers and partition keys
//
// Every access the pipeline makes names one document by a key it already has
// (a finding ID, a resource ID, an event key, a grant or outbox item ID), so
// most containers are partitioned by their document ID: point reads and
// conditional writes touch one logical partition, documents spread evenly over
// physical partitions however many subscriptions there are, and no logical
// partition can outgrow its 20 GB limit. Partitioning findings or resources by
// subscription would put a large subscription's whole estate in one hot
// partition, and GetFinding(id), which knows no subscription, would have to fan
// out.
//
//	container  partition key  document ID            holds
//	findings   /id            finding ID             {finding, idKey}
//	resources  /id            guard.IDKey of the ID  {resource, idKey}
//	ledger     /id            event key              {key, at}; default TTL (below);
//	                                                 and Ready's document (~readiness)
//	grants     /id            grant ID               {grant, endAt}
//	outbox     /id            item ID                {item, nextAt, enqueuedAt}
//	poison     /id            record ID              {poison, atKey, keptAt}
//	audit      /bucket        Seq                    {record, seq, data}, bucket = Seq/1000;
//	                                                 and the tail document (bucket "tail")
//
// A key that is long or holds characters unsafe in an ID or a URL (resource IDs
// hold "/") is stored under "~" and its SHA-256; the key itself is kept in the
// document. Times that queries compare are kept as fixed-width UTC strings
// (timeKey), so that string order is time order.
//
// The listings (ListFindings, ListResources, DueGrants, DueItems, ListPoison)
// are cross-partition queries. Through the Gateway, which azcosmos uses, those
// may only filter and project (no ORDER BY, TOP, OFFSET, DISTINCT, GROUP BY or
// aggregates; the local server would accept them, the tests refuse them), so
// they filter on the server and sort and cut here. They serve sweeps and
// reports, not the per-event path.
//
// The audit trail is the exception: a reader pages through it in Seq order, so
// it is partitioned in buckets of 1000 consecutive Seqs, and ListAudit reads
// bucket after bucket with single-partition queries, where ORDER BY and TOP are
// served. Appends go to one bucket at a time, but they are serialised by the
// Seq anyway.
//
// # Concurrency
//
// Cosmos DB (and the local server) has no multi-document transactions here, so
// every read-modify-write (UpdateFinding, PutResource, Retry, the audit tail) is
// optimistic: read the document and its ETag, compute, replace with If-Match
// (or create, when there was none); on 412 or 409 another writer got there
// first, so read again and compute again, with jittered backoff, at most
// Options.UpdateAttempts times (default 32), then fail with guard.ErrConflict.
// Two handler instances racing on one finding never lose an update. Each write
// carries a random write ID, so that a write which landed but whose answer was
// lost (azcore then retries it and meets its own result as a 412 or 409) is
// recognised as done rather than applied twice.
//
// Reads that are not followed by a conditional write may be slightly stale in
// accounts with Session (or weaker) consistency, as this store keeps no session
// tokens: a stale read before a conditional write only costs a retry; a stale
// ledger read may let a duplicate event through, which the pipeline tolerates.
//
// # Audit Seq without transactions
//
// Seq must increase strictly. Rather than a counter document incremented and
// then a record created under the number (a writer dying in between leaves a
// gap, and a reader can see Seq n+1 before n), the record itself is created
// under the next Seq: a create fails with 409 if that ID exists, so each Seq is
// taken exactly once. The tail document holds a Seq whose record exists; an
// appender reads it, tries Seq tail+1, and on 409 moves past the taken Seq (and
// the tail, re-read). After a successful create it moves the tail forward with
// an ETag-conditional replace, on a best-effort basis: a lagging tail costs
// later appenders a few 409s, never a duplicate. Since every appender starts
// after a Seq known to exist, Seqs have no gaps and a record becomes visible
// only after every lower one; ListAudit relies on that to stop at the end
// (and reads on past a hole only when the tail lies beyond it: a record
// removed behind the store's back).
//
// Records are hash-chained (guard.AuditHash): before each try at Seq n the
// appender reads record n-1, which exists by the above, and creates record n
// with PrevHash set to its Hash; on a 409 it chains again to the record that
// took the Seq. Every Seq is taken by one create, so the chain has one record
// per Seq and no forks. Record data is kept as a verbatim string, byte for
// byte, since the hash covers its bytes.
//
// # Ledger TTL
//
// The ledger container gets a default time to live (Options.LedgerTTL, default
// 30 days, far beyond Event Grid's 24 hours of retries and Event Hubs'
// retention; raise it if consumers are ever rewound further). Cosmos DB removes
// expired documents by itself. The local test server (@vercel/cosmosdb-server)
// keeps the container's defaultTtl but never expires anything; the tests check
// only what it does: that the container is created with the TTL.
//
// # Throttling and transient errors
//
// Throttling is azcore's retry policy, which azcosmos runs: a 429 is retried
// after what the server asks for in x-ms-retry-after-ms, up to 5 times
// (MaxRetries); a server asking for more than 10 s (MaxRetryDelay) gets the
// error back at once. The same policy retries 408 and 5xx answers and
// connection errors with exponential backoff from 250 ms, each try cut at 15 s
// (TryTimeout), except certificate errors, which cannot heal.
// Options.ClientOptions.Retry overrides any of these.
//
// azcosmos, in front of that policy, retries reads once per region on 5xx but
// marks a write that failed with 408 or 5xx as not retriable, since it cannot
// know whether the write landed. This store's writes can be sent again (creates
// of an existing ID and deletes of an absent one change nothing, upserts are
// idempotent, and a conditional write that landed is recognised by its write
// ID), so every request is tried again up to 3 times on 408, 449, 5xx or a
// dropped connection, 100, 200 and 400 ms apart (transient.go). Every wait and
// every try is bounded, so one call is too: a few minutes at the very worst,
// when every try hangs until TryTimeout. The caller's context bounds it further.
//
// # Authentication, endpoints and containers
//
// With Options.Key (the account key; COSMOS_KEY for the exportguard binary) the
// store signs requests with azcosmos.NewKeyCredential; without, it uses
// Options.Credential or azidentity's DefaultAzureCredential (managed identity in
// Azure; Azure Government endpoints, *.documents.azure.us, sign in at the
// Government authority). The key prints as "[redacted]" and appears in no
// error. Endpoints are https; plain http is accepted only to a loopback host
// (127.0.0.0/8, ::1, localhost), with a key, for the local server; TLS
// certificate verification is never switched off.
//
// With Options.EnsureContainers, Open creates the database and any missing
// container (ensureContainers=true in the store URL). Infrastructure that
// creates them itself must use the names and partition key paths above and a
// default TTL on the ledger, and can then grant the app's identity data-plane
// rights only (Cosmos DB Built-in Data Contributor), which cannot create
// containers. Either way, Open checks that every container exists with its
// partition key.
package cosmos
