#!/usr/bin/env node
// The cosmosdb-server CLI of @vercel/cosmosdb-server (pinned in package.json),
// with one fix. Its read-document handler dereferences the document before
// checking that it exists, so a point read of an absent document in a
// partitioned container answers 500 instead of Cosmos DB's 404 NotFound. Every
// store that asks "is this here?" (the ledger, UpdateFinding creating a
// finding) needs the 404, so absent documents get it here; everything else is
// the package's own handler. Arguments are the CLI's: --no-ssl -p PORT --host HOST.
"use strict";

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const partitionHeader = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");

const original = readDocument.default;
if (typeof original !== "function" || typeof partitionHeader.parsePartitionKey !== "function") {
  throw new Error("@vercel/cosmosdb-server has changed shape: update pkg/cosmos/testdata/cosmosdb-server.js");
}

readDocument.default = (account, req, res, params) => {
  const collection = account.database(params.dbId).collection(params.collId);
  if (collection.read()) {
    const pk = partitionHeader.parsePartitionKey(partitionHeader.default(req), params.docId);
    if (!collection.document(params.docId, pk).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return original(account, req, res, params);
};

// The CLI parses process.argv and listens; its routes take the patched handler.
require("@vercel/cosmosdb-server/lib/cli");
