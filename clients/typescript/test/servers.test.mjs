// A cluster's URLs as BYOK_NATS_URL gives them (one string, commas) or as a list.
import assert from "node:assert/strict";
import { test } from "node:test";

import { serverList } from "../dist/index.js";

test("a comma-separated servers string is split, blanks dropped", () => {
  assert.deepEqual(serverList("nats://a:4222, nats://b:4222,,nats://c:4222 "), [
    "nats://a:4222",
    "nats://b:4222",
    "nats://c:4222",
  ]);
  assert.deepEqual(serverList("nats://a:4222"), ["nats://a:4222"]);
  assert.deepEqual(serverList([" nats://a:4222", "nats://b:4222"]), ["nats://a:4222", "nats://b:4222"]);
});
