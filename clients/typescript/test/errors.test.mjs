// The error registry reaches TypeScript as generated data and types (no server needed).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import { ByokError, COMMON_ERRORS, ERROR_CODES, SUBJECT_ERRORS, subjects } from "../dist/index.js";

const registry = JSON.parse(await readFile(new URL("../../../contracts/error-words.json", import.meta.url), "utf8"));

test("every registered word is generated with its code", () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(registry.words).map(([w, v]) => [w, v.code])),
    { ...ERROR_CODES },
  );
  assert.equal(ERROR_CODES.stale_kid, 409);
  assert.equal(ERROR_CODES.wrong_account, 403);
  assert.deepEqual([...COMMON_ERRORS], registry.common);
});

test("per subject words, and the client's own words are registered as client side", () => {
  assert.ok(SUBJECT_ERRORS[subjects.KEYS_REMOVE].includes("key_not_found"));
  for (const word of ["no_responders", "timeout", "payload_too_large", "usage_not_recorded", "usage_stream_full"]) {
    assert.equal(registry.words[word].origin, "client", word);
  }
});

test("a ByokError carries the reply's code, word and message", () => {
  const err = ByokError.fromReply({ status: "error", code: 409, error: "stale_kid", message: "m" });
  assert.equal(err.code, 409);
  assert.equal(err.error, "stale_kid");
  assert.equal(err.message, "m");
  assert.equal(err.retryable, false);
  assert.ok(new ByokError(503, "starting", "s").retryable);
});
