// Package cosmos is exportguard's store in Azure Cosmos DB (NoSQL API): the
// guard.Store a deployment shares between all its Functions instances, for as
// many subscriptions as it guards. It passes the same contract suite
// (pkg/storetest) as the embedded SQLite store, against a real Cosmos-compatible
// server in its tests.
//
// # Containers and partition keys
//
// State is kept in partitions (guard.PartitionOf, DESIGN 6): one logical
// partition per judged resource holds everything a change of it reads and
// writes, so that a change is one read and one atomic, conditional write, and
// instances meet only when they change the same resource.
//
//	container  partition key  documents
//	partitions /pk            per partition: "head" {pk, partition, resources: {idKey: Resource},
//	                          findings: {id: Finding}, seen: {event key: time}, audit: {seq, hash, at},
//	                          findingIds, statuses, writeId}; "audit-<Seq, 12 digits>" {record, data};
//	                          "outbox-<item ID or ~hash>" {item, nextAt, enqueuedAt};
//	                          and Ready's document (partition key ~readiness)
//	grants     /id            grant ID: {grant, endAt}
//	poison     /id            record ID: {poison, atKey, keptAt}
//
// The partition key is the partition itself, or "~" and its SHA-256 when it is
// longer than 1,000 bytes; every document keeps the partition readable. The
// seals' chain (guard.SealPartition, "~seals") is a partition like any other,
// holding only audit records. findingIds and statuses repeat what findings
// holds so that a query across partitions can select heads without a JOIN.
// The container's indexing policy (set by EnsureContainers) leaves out the
// bulky paths no query filters on (resources, findings, seen keys, record
// bodies, outbox items): writing them then costs no index updates.
//
// Reads of a partition are point reads of its head: GetResource, Processed,
// UpdateFinding's read, ListFindings of one resource. The listings
// (ListFindings, ListResources, GetFinding by ID, DueItems, ListOutbox,
// AuditHeads, DueGrants, ListPoison) are queries across partitions. Through the
// Gateway, which azcosmos uses, those may only filter and project (no ORDER BY,
// TOP, OFFSET, DISTINCT, GROUP BY or aggregates; the local server would accept
// them, the tests refuse them), so they filter on the server and sort and cut
// here. They serve sweeps and reports, not the per-event path. ListAudit is a
// query in one partition, where ORDER BY and TOP are served.
//
// A key that is long or holds characters unsafe in an ID (resource IDs hold
// "/") is stored under "~" and its SHA-256; the key itself is kept in the
// document. Times that queries compare are kept as fixed-width UTC strings
// (timeKey), so that string order is time order.
//
// # One transactional batch per partition and change
//
// Every write names its partition, and every write, inside a Batch or not, is
// committed as one transactional batch (ExecuteTransactionalBatch) in that
// partition: the head replaced with If-Match on the ETag read (created when
// there was none), the audit records created, the outbox items created,
// replaced or deleted. Cosmos DB applies all of it or nothing, so a change's
// finding transitions, its audit record, its outbox items, its event key and
// the new state are stored together, and the conditional head makes the
// partition's writers take turns: on 412 (or 409 for a head created twice)
// the unit is read again and run again, up to Options.UpdateAttempts times
// with jittered backoff, then guard.ErrConflict. Every head carries a random
// write ID, so that a batch which landed but whose answer was lost (azcore
// then sends it again and it meets its own head) is recognised as done. An
// outbox create that meets an item of its ID (409) or a delete that meets
// none (404) is dropped from the batch and the batch sent again: Enqueue keeps
// an item that is there, Complete of an absent one is not an error.
//
// Batch (unit.go) is a unit of work: it reads each partition it touches once,
// keeps the writes in memory, and commits each partition written as one batch,
// in the order of each partition's last write (the partition that marks a
// change processed commits last). A Batch nested in another commits on its own
// when it returns, and hands the heads it read and committed to the Batch
// around it, so that a delivery's Batch reads a partition once however many
// of its changes touch it. There is no transaction across partitions: when
// the second of two partitions loses its race, the first stays committed, and
// fn runs again with the first read as it was before and its writes to it
// dropped, so that each partition's writes land once.
//
// A transactional batch holds at most 100 operations (and 2 MB): a unit
// whose writes to one partition need more (the head, plus one per audit
// record and outbox write) is refused with an error rather than split, since a
// split would no longer be atomic. A change writes the head, one record and a
// few items.
// https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch#limitations
//
// # Why batches, measured
//
// Issue 15 set two designs against each other: this one, and one conditional
// replace of the partition's document holding the change's audit record and
// outbox items, copied out to documents of their own afterwards. Counted at the
// local server (counts_test.go, TestRequestsPerChange and
// TestSingleDocumentAlternative, with a storage account's 1.6 KB ARM body, two
// rules' verdicts and one notification):
//
//	                                    requests  bytes sent  bytes received
//	judged change, batch (a transition)    2         5,200        340
//	judged change, batch (none)            2         4,200      3,300
//	the same change, single document       4         6,400      9,800
//	duplicate                              1             0      3,100
//	a record no rule judges                0             0          0
//	10 changes of one resource, one Batch 11        55,700      2,600
//
// Request units are not measured here (the local server charges none); by
// Cosmos DB's documented charges (a point read of 1 KB costs 1 RU and of 100
// KB 10 RU; a write of 1 KB 5 RU and of 100 KB 50 RU, under Session
// consistency and default indexing;
// https://learn.microsoft.com/azure/cosmos-db/optimize-cost-reads-writes) and
// taking a batch's charge as the sum of its operations', a judged change is
// about 1 RU for the read and 5 to 6 RU for each of the head, the record and
// the item: some 12 to 17 RU. The single document writes the same documents
// (plus the record and items inside the head), so about the same RU, but in
// twice the requests, with the record and items sent twice, and with a
// copy-out that a crash can leave undone, needing a sweep to finish it. The
// batch is atomic as it stands, so it was chosen.
//
// # Event keys: TTL and cap
//
// The head keeps the event keys seen in the partition, so that the read a
// change makes finds a duplicate too. Keys marked more than Options.LedgerTTL
// (default 30 days, far beyond Event Grid's 24 hours of retries and Event
// Hubs' retention) before the newest one are dropped when the head is
// written, and at most the newest 2,000 are kept. The age is measured from the
// newest key, not the clock, so that a replay of a recorded session, whose
// times lie in the past, keeps its keys. The cap bounds the head: each key
// costs about 80 bytes, so a head at the cap is some 160 KB, read by every
// change of the resource (about 16 RU) and written by every judged one (about
// 80 RU; TestBytesPerChangeWithSeenKeys logs the bytes). A resource changed more
// than 2,000 times within a redelivery window could see an old duplicate
// judged again, which the pipeline tolerates (findings are idempotent).
//
// # Old layout
//
// A database with the containers of the layout before partitions (findings,
// resources, ledger, outbox, audit) and no partitions container is refused by
// Open (ErrOldLayout), with or without EnsureContainers, naming
// `exportguard store migrate --from URL --to URL`. OpenLegacy reads such a
// database for the migration (guard.LegacyStore); it only reads.
//
// Reads that are not followed by a conditional write may be slightly stale in
// accounts with Session (or weaker) consistency, as this store keeps no session
// tokens: a stale read before a conditional write only costs a retry; a stale
// duplicate check lets a duplicate through, which the pipeline tolerates.
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
// know whether the write landed. This store's writes can be sent again (a
// transactional batch that landed is recognised by its head's write ID,
// grants are upserted, poison records created once), so every request is tried again up to 3 times on 408, 449, 5xx or a
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
// creates them itself must use the names and partition key paths above (and
// should use the indexing policy of containerSpecs), and can then grant the
// app's identity data-plane rights only (Cosmos DB Built-in Data Contributor), which cannot create
// containers. Either way, Open checks that every container exists with its
// partition key.
package cosmos
