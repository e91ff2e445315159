#!/usr/bin/env node
// The cosmosdb-server CLI of @vercel/cosmosdb-server (pinned in package.json),
// with three changes. Arguments are the CLI's: --no-ssl -p PORT --host HOST.
//
// 1. Point reads of absent documents answer 404. The package's read-document
//    handler dereferences the document before checking that it exists, so a
//    point read of an absent document in a partitioned container answers 500
//    instead of Cosmos DB's 404 NotFound; every store that asks "is this here?"
//    needs the 404.
//
// 2. Transactional batches (POST .../docs with x-ms-cosmos-is-batch-request and
//    x-ms-cosmos-batch-atomic: True, what azcosmos's ExecuteTransactionalBatch
//    sends) get Cosmos DB's semantics. The package's handler keeps the
//    operations before a failure, answers 200, and fails replace, upsert,
//    delete and read (500: it looks for the partition key in each operation,
//    not in the request header) and patch (400). Cosmos DB, per
//    https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch:
//    the operations run in order in one logical partition (the request's
//    x-ms-documentdb-partitionkey), and "if any operation fails, the entire
//    transaction is rolled back"; "the failed operation will have a status
//    code of its corresponding error. All the other operations will have a 424
//    status code (failed dependency)". The HTTP status of the whole answer is
//    200 when it committed and 207 Multi-Status when it did not: azcosmos sets
//    TransactionalBatchResponse.Success to status != 207
//    (cosmos_transactional_batch_response.go) and its emulator test expects
//    207 with [424, 409] (emulator_cosmos_batch_test.go); the .NET SDK reads
//    207 the same way, promoting the first status that is not 424
//    (Microsoft.Azure.Cosmos/src/Batch/TransactionalBatchResponse.cs). Refused
//    whole, before anything runs: more than 100 operations (400) and a body
//    over 2 MB (413) ("the size of the TransactionalBatch payload cannot
//    exceed 2 MB"; .NET: MaxOperationsInDirectModeBatchRequest = 100, and
//    BatchSinglePartitionKeyTests.cs expects 400 and 413). A document of
//    another partition fails its operation with 400, as in that test file
//    (BatchWithInvalidCreateAsync).
//    Request, as azcosmos v1.5.0 sends it (cosmos_transactional_batch.go):
//      [{"operationType":"Create","resourceBody":{...}},
//       {"operationType":"Replace","ifMatch":"<etag>","id":"x","resourceBody":{...}},
//       {"operationType":"Upsert","ifMatch":"<etag>","resourceBody":{...}},
//       {"operationType":"Delete","id":"x","ifMatch":"<etag>"},
//       {"operationType":"Read","id":"x"},
//       {"operationType":"Patch","ifMatch":"<etag>","id":"x",
//        "resourceBody":{"condition":"from c where ...","operations":[{"op":"set","path":"/v","value":1}]}}]
//    ifMatch is optional everywhere; ifNoneMatch is honoured too, though
//    azcosmos never sends it. Answer: one result per operation, in order,
//      {"statusCode":201,"requestCharge":1,"eTag":"<etag>","resourceBody":{...}}
//    with no resourceBody for writes under "Prefer: return=minimal" (azcosmos
//    sends it unless EnableContentResponseOnWrite, or the batch has a read).
//    Statuses: Create 201 (409 if the ID exists), Upsert 201 or 200, Replace
//    and Patch 200, Delete 204, Read 200; 404 for a missing document, 412 for
//    a stale ifMatch (upsert: only when the document exists; when it does not,
//    an upsert creates it, as Cosmos DB does), 304 for a read whose
//    ifNoneMatch matches (a failure in an atomic batch, as in Cosmos DB).
//    Nothing else can interleave: a batch runs synchronously on Node's one
//    thread, between reading its body and answering.
//
// 3. Request counts, for benchmarks: GET /_counts answers
//      {"requests","byMethod","byKind","bytesIn","bytesOut","batches","batchOps"}
//    counted over every request the server received since it started or was
//    last reset (POST /_counts/reset, which answers the counts just before it).
//    A batch is one request (byKind POST_BATCH); batches counts the atomic
//    batches whose body is a JSON array (refused ones too) and batchOps their
//    operations. Bytes are those of request and response bodies, not headers.
//    Counting is always on (a few additions per request); cosmostest's
//    ReadCounts and ResetCounts read it from Go.
//    Requests to /_counts are not counted; no Cosmos DB route starts with it.
//
// Everything else is the package's own. It is patched from the inside
// (module exports replaced before its router captures them), so a new
// version of the package must be checked against this file: the shape checks
// below fail loudly rather than let it drift.
"use strict";

const lib = "@vercel/cosmosdb-server/lib";
const readDocument = require(`${lib}/handler/read-document`);
const batchDocuments = require(`${lib}/handler/batch-documents`);
const patch = require(`${lib}/handler/_patch-operations`);
const partitionHeader = require(`${lib}/utils/get-partition-from-header`);
const trueHeader = require(`${lib}/true-header`).default;
const Items = require(`${lib}/account/items`).default;

if (typeof readDocument.default !== "function" || typeof batchDocuments.default !== "function" ||
    typeof patch.patchOperation !== "function" || typeof partitionHeader.parsePartitionKey !== "function" ||
    typeof trueHeader !== "function" ||
    !["create", "replace", "delete", "_item", "_getPartition"].every(m => typeof Items.prototype[m] === "function")) {
  throw new Error("@vercel/cosmosdb-server has changed shape: update pkg/cosmos/testdata/cosmosdb-server.js");
}

// --- 1. Point reads of absent documents -------------------------------------

const originalRead = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    const pk = partitionHeader.parsePartitionKey(partitionHeader.default(req), params.docId);
    if (!collection.document(params.docId, pk).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return originalRead(account, req, res, params);
};

// --- 3. Counts (used by 2) ---------------------------------------------------

const fresh = () => ({ requests: 0, byMethod: {}, byKind: {}, bytesIn: 0, bytesOut: 0, batches: 0, batchOps: 0 });
let counts = fresh();
const bump = (m, k) => { m[k] = (m[k] || 0) + 1; };

// kind names a request as the package's router tells them apart.
function kind(req) {
  if (req.method === "POST" && (trueHeader(req, "x-ms-documentdb-isquery") ||
      req.headers["content-type"] === "application/query+json")) return "POST_QUERY";
  if (trueHeader(req, "x-ms-documentdb-is-upsert")) return `${req.method}_UPSERT`;
  if (trueHeader(req, "x-ms-cosmos-is-batch-request")) return `${req.method}_BATCH`;
  return req.method;
}

function count(req, res) {
  counts.requests += 1;
  bump(counts.byMethod, req.method);
  bump(counts.byKind, kind(req));
  // Another 'data' listener beside the handler's: every chunk reaches both.
  req.on("data", chunk => { counts.bytesIn += chunk.length; });
  const size = chunk => (typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk ? chunk.length : 0);
  const { write, end } = res;
  res.write = function (chunk, ...rest) { counts.bytesOut += size(chunk); return write.call(this, chunk, ...rest); };
  res.end = function (chunk, ...rest) {
    if (typeof chunk !== "function") counts.bytesOut += size(chunk);
    return end.call(this, chunk, ...rest);
  };
}

// serveCounts answers /_counts and /_counts/reset; false for any other path.
function serveCounts(req, res) {
  const path = req.url.split("?")[0];
  if (path !== "/_counts" && !path.startsWith("/_counts/")) return false;
  let status = 200;
  let body = counts;
  if (req.method === "POST" && path === "/_counts/reset") counts = fresh();
  else if (!(req.method === "GET" && path === "/_counts")) {
    status = 404;
    body = { code: "NotFound", message: "GET /_counts or POST /_counts/reset" };
  }
  req.resume();
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
  return true;
}

// counted wraps one of the package's server factories: its request listener
// runs after serveCounts and count.
function counted(createServer) {
  return (...args) => {
    const server = createServer(...args);
    const handlers = server.listeners("request");
    server.removeAllListeners("request");
    server.on("request", (req, res) => {
      if (serveCounts(req, res)) return;
      count(req, res);
      handlers.forEach(h => h.call(server, req, res));
    });
    return server;
  };
}

// --- 2. Transactional batches ------------------------------------------------

const MAX_OPERATIONS = 100;
const MAX_BYTES = 2 * 1024 * 1024;
const OPERATIONS = new Set(["Create", "Upsert", "Replace", "Delete", "Read", "Patch"]);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", c => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// partitionOf returns the request's partition key value: its header holds a
// JSON array of one component; [{}] is the "none" key (here: {}).
function partitionOf(req) {
  try {
    const pk = JSON.parse(partitionHeader.default(req));
    return Array.isArray(pk) && pk.length === 1 ? { value: pk[0] } : undefined;
  } catch (err) {
    return undefined;
  }
}
const isNone = pk => pk !== null && typeof pk === "object";
// lookup is the partition argument of the package's document lookups.
const lookup = pk => (isNone(pk) ? undefined : pk);
const samePartition = (value, pk) =>
  isNone(pk) ? value === undefined : value !== undefined && JSON.stringify(value) === JSON.stringify(pk);

// journal records, while a batch runs, the first value each key of the
// collection's document maps had (or that it had none), so that rollback can
// put back exactly what the batch touched. The package keeps documents in
// Items._data (rid -> Item) and the keys that find them in Items._index; its
// writes are set and delete on those two maps.
function journal(docs) {
  const maps = [docs._data, docs._index];
  if (!maps.every(m => m instanceof Map)) {
    throw new Error("@vercel/cosmosdb-server has changed shape: update pkg/cosmos/testdata/cosmosdb-server.js");
  }
  const ridCount = docs._ridCount;
  const before = maps.map(() => new Map());
  maps.forEach((m, i) => {
    for (const name of ["set", "delete"]) {
      m[name] = (key, ...rest) => {
        if (!before[i].has(key)) before[i].set(key, Map.prototype.has.call(m, key) ? [true, Map.prototype.get.call(m, key)] : [false]);
        return Map.prototype[name].call(m, key, ...rest);
      };
    }
  });
  const release = () => maps.forEach(m => { delete m.set; delete m.delete; });
  return {
    commit: release,
    rollback() {
      release();
      maps.forEach((m, i) => before[i].forEach(([had, value], key) => (had ? m.set(key, value) : m.delete(key))));
      docs._ridCount = ridCount;
    },
  };
}

// precondition checks ifMatch and ifNoneMatch against the current document
// (undefined when there is none): a status to fail with, or 0.
function precondition(op, current) {
  if (!current) return 0;
  if (op.ifMatch && op.ifMatch !== "*" && op.ifMatch !== current._etag) return 412;
  if (op.ifNoneMatch && (op.ifNoneMatch === "*" || op.ifNoneMatch === current._etag)) {
    return op.operationType === "Read" ? 304 : 412;
  }
  return 0;
}

// write runs one of the package's writes, its refusals as statuses.
function write(status, fn) {
  try {
    return { statusCode: status, doc: fn() };
  } catch (err) {
    if (err.conflict) return { statusCode: 409 };
    if (err.badRequest) return { statusCode: 400 };
    throw err;
  }
}

// apply runs one operation in partition pk: {statusCode, doc}.
function apply(collection, pk, header, op) {
  const docs = collection.documents;
  const body = op.resourceBody;
  const writesBody = ["Create", "Upsert", "Replace"].includes(op.operationType);
  if (writesBody && (!body || typeof body !== "object" || Array.isArray(body) || typeof body.id !== "string" || !body.id)) {
    return { statusCode: 400 };
  }
  if (writesBody && !samePartition(docs._getPartition(body), pk)) return { statusCode: 400 };
  const id = writesBody ? body.id : op.id;
  if (typeof id !== "string" || !id || (op.operationType === "Replace" && op.id !== id)) return { statusCode: 400 };

  const current = collection.document(id, lookup(pk)).read();
  if (!current && !["Create", "Upsert"].includes(op.operationType)) return { statusCode: 404 };
  const failed = op.operationType === "Create" ? 0 : precondition(op, current);
  if (failed) return { statusCode: failed };

  switch (op.operationType) {
    case "Create":
      return write(201, () => docs.create(body));
    case "Upsert":
      return current ? write(200, () => docs.replace(body, current)) : write(201, () => docs.create(body));
    case "Replace":
      return write(200, () => docs.replace(body, current));
    case "Delete":
      docs.delete(id, lookup(pk));
      return { statusCode: 204 };
    case "Read":
      return { statusCode: 200, doc: current };
    default: { // Patch: the package's own, with the checks above done
      if (!body || !Array.isArray(body.operations)) return { statusCode: 400 };
      const r = patch.patchOperation(collection,
        { id, partitionKey: header, operations: body.operations, condition: body.condition });
      return { statusCode: r.statusCode, doc: r.statusCode < 300 ? r.body : undefined };
    }
  }
}

const originalBatch = batchDocuments.default;
batchDocuments.default = async (account, req, res, params) => {
  // Only atomic batches; the package's handler keeps what else there is (bulk).
  if (!trueHeader(req, "x-ms-cosmos-batch-atomic")) return originalBatch(account, req, res, params);
  const refuse = (status, code, message) => {
    res.statusCode = status;
    return { code, message };
  };
  const raw = await readBody(req);
  let ops;
  try {
    ops = JSON.parse(raw.toString("utf8"));
  } catch (err) {
    return refuse(400, "BadRequest", "The batch is not JSON.");
  }
  if (!Array.isArray(ops)) return refuse(400, "BadRequest", "The batch is not a JSON array of operations.");
  counts.batches += 1;
  counts.batchOps += ops.length;
  if (raw.length > MAX_BYTES) {
    return refuse(413, "RequestEntityTooLarge", `The batch is ${raw.length} bytes; at most ${MAX_BYTES} are allowed.`);
  }
  if (ops.length === 0 || ops.length > MAX_OPERATIONS) {
    return refuse(400, "BadRequest", `A batch has 1 to ${MAX_OPERATIONS} operations; this one has ${ops.length}.`);
  }
  const bad = ops.find(op => !op || !OPERATIONS.has(op.operationType));
  if (bad !== undefined) return refuse(400, "BadRequest", `Operation type '${bad && bad.operationType}' is not supported in Batch.`);
  const pk = partitionOf(req);
  if (!pk) return refuse(400, "BadRequest", "A batch needs x-ms-documentdb-partitionkey with one component.");
  const collection = account.database(params.dbId).collection(params.collId);
  if (!collection.read()) return refuse(404, "NotFound", "Entity with the specified id does not exist in the system.");

  const minimal = /return=minimal/i.test(String(req.headers.prefer || ""));
  const header = partitionHeader.default(req);
  const log = journal(collection.documents);
  const results = [];
  try {
    for (const op of ops) {
      const r = apply(collection, pk.value, header, op);
      results.push(r);
      if (r.statusCode >= 300) break;
    }
  } catch (err) {
    log.rollback();
    throw err;
  }
  const failedAt = results.findIndex(r => r.statusCode >= 300);
  if (failedAt >= 0) {
    log.rollback();
    res.statusCode = 207;
    return ops.map((op, i) => (i === failedAt
      ? { statusCode: results[i].statusCode, requestCharge: 1 }
      : { statusCode: 424, requestCharge: 0 }));
  }
  log.commit();
  res.statusCode = 200;
  return results.map((r, i) => {
    const out = { statusCode: r.statusCode, requestCharge: 1 };
    if (r.doc) {
      out.eTag = r.doc._etag;
      if (!minimal || ops[i].operationType === "Read") out.resourceBody = r.doc;
    }
    return out;
  });
};

// The package's server factories, counted; then its CLI, which parses
// process.argv, listens, and routes to the handlers patched above.
const index = require(lib);
index.createHttpServer = counted(index.createHttpServer);
index.createHttpsServer = counted(index.createHttpsServer);
require(`${lib}/cli`);
