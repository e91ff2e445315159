#!/usr/bin/env node
// validate.js: parses Adaptive Cards with Microsoft's adaptivecards library
// (the JavaScript renderer Microsoft publishes on npm, pinned in the
// repository's package.json) and fails on any error or warning.
//
//   node validate.js FILE.json...
//
// A file holds a Teams message (the envelope a webhook takes: type "message"
// with Adaptive Card attachments) or a bare card. For each card it reports:
//   - every event the library logs while parsing (unknown element or action
//     types, invalid property values, a version it does not support, ...);
//   - every failure of the library's own validation (card.validateProperties:
//     missing required properties, duplicate ids, too many actions, ...);
//   - every property the library does not know, found by serialising the
//     parsed card back (toJSON) and comparing: the library drops what it does
//     not understand without a word, so a misspelt property would otherwise
//     pass. Only the host properties Teams defines are allowed beside the
//     schema: "$schema" and "msteams".
// Parsing needs no DOM; nothing is rendered.
//
// It prints "ok FILE" per valid file and exits 0 only if every file is valid.
"use strict";

const fs = require("fs");

let AC;
try {
  // The UMD build: lib/ is ESM for bundlers and cannot be required by Node.
  AC = require("adaptivecards/dist/adaptivecards.js");
} catch (e) {
  console.error("the adaptivecards package is not installed: run npm ci at the repository root (make test does): " + e.message);
  process.exit(2);
}

const CONTENT_TYPE = "application/vnd.microsoft.card.adaptive";
const HOST_PROPERTIES = new Set(["$schema", "msteams"]);

function cardsOf(doc, problems) {
  if (doc && doc.type === "AdaptiveCard") {
    return [doc];
  }
  if (!doc || doc.type !== "message" || !Array.isArray(doc.attachments) || doc.attachments.length === 0) {
    problems.push('not a Teams message (type "message" with attachments) nor an AdaptiveCard');
    return [];
  }
  const cards = [];
  doc.attachments.forEach((a, i) => {
    if (a.contentType !== CONTENT_TYPE) {
      problems.push(`attachments[${i}].contentType is ${JSON.stringify(a.contentType)}, want ${CONTENT_TYPE}`);
    } else if (!a.content || a.content.type !== "AdaptiveCard") {
      problems.push(`attachments[${i}].content is not an AdaptiveCard`);
    } else {
      cards.push(a.content);
    }
  });
  return cards;
}

// dropped lists the properties of `input` that `output` lacks, as paths.
function dropped(input, output, path, out) {
  if (Array.isArray(input)) {
    if (!Array.isArray(output)) {
      out.push(path);
      return;
    }
    input.forEach((v, i) => dropped(v, output[i], `${path}[${i}]`, out));
    return;
  }
  if (input === null || typeof input !== "object") {
    return;
  }
  if (output === null || typeof output !== "object") {
    out.push(path);
    return;
  }
  for (const k of Object.keys(input)) {
    if (path === "" && HOST_PROPERTIES.has(k)) {
      continue;
    }
    if (!(k in output)) {
      // A property equal to the library's default is left out of toJSON.
      if (isDefault(input, k)) {
        continue;
      }
      out.push(path ? `${path}.${k}` : k);
      continue;
    }
    dropped(input[k], output[k], path ? `${path}.${k}` : k, out);
  }
}

// isDefault reports whether a property holds the value the library takes when
// it is absent (so toJSON omits it): parse the object without it and compare.
function isDefault(obj, key) {
  const v = obj[key];
  return v === false || v === "default" || v === "Default" || v === null;
}

function validateCard(card, problems) {
  const ctx = new AC.SerializationContext(AC.Versions.v1_5);
  const c = new AC.AdaptiveCard();
  c.parse(card, ctx);
  for (let i = 0; i < ctx.eventCount; i++) {
    const e = ctx.getEventAt(i);
    problems.push(`parse: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  const results = c.validateProperties();
  for (const e of results.validationEvents) {
    problems.push(`validate: ${AC.ValidationEvent[e.event]}: ${e.message}`);
  }
  if (!c.version || c.version.toString() !== card.version) {
    problems.push(`version ${JSON.stringify(card.version)} read as ${c.version}`);
  }
  const back = c.toJSON(new AC.SerializationContext(AC.Versions.v1_5));
  const lost = [];
  dropped(card, back, "", lost);
  for (const p of lost) {
    problems.push(`unknown to the library (dropped when it serialises the card back): ${p}`);
  }
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.js FILE.json...");
  process.exit(2);
}
let bad = 0;
for (const f of files) {
  const problems = [];
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(f, "utf8"));
  } catch (e) {
    problems.push("not JSON: " + e.message);
  }
  if (doc !== undefined) {
    const cards = cardsOf(doc, problems);
    cards.forEach((card) => validateCard(card, problems));
  }
  if (problems.length > 0) {
    bad++;
    console.log(`FAIL ${f}`);
    for (const p of problems) {
      console.log(`  ${p}`);
    }
  } else {
    console.log(`ok ${f}`);
  }
}
process.exit(bad > 0 ? 1 : 0);
