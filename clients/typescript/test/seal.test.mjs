// Sealing byte for byte, without a server (node --test).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import {
  CONFIGURE_INFO,
  configureEnvelope,
  ENC_LENGTH,
  RecipientKeypair,
  RESOLVE_INFO,
  SUITE,
  seal,
  sealForConfigure,
} from "../dist/index.js";
import { fromBase64, toBase64 } from "../dist/seal.js";

const scope = { type: "workspace", id: "acme" };

test("the suite string is the contract's", () => {
  assert.equal(SUITE, "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM");
  assert.equal(CONFIGURE_INFO, "byok.v1.keys.configure");
  assert.equal(RESOLVE_INFO, "byok.v1.resolve");
});

test("the configure envelope is compact JSON with the fields in order", () => {
  const bytes = configureEnvelope("sk-ant-x", { account: "acme", scope, requestId: "r1", iat: 1700000000 });
  assert.equal(
    new TextDecoder().decode(bytes),
    '{"v":1,"key":"sk-ant-x","account":"acme","scope":{"type":"workspace","id":"acme"},"iat":1700000000,"request_id":"r1"}',
  );
  const platform = configureEnvelope("k", { account: null, scope: { type: "platform", id: "default" } });
  const parsed = JSON.parse(new TextDecoder().decode(platform));
  assert.equal(parsed.account, null);
  assert.equal(parsed.request_id, null);
  assert.ok(Math.abs(parsed.iat - Date.now() / 1000) < 5);
});

test("a sealed blob is standard padded base64 of enc (32 bytes) || ciphertext (+16 tag)", async () => {
  const recipient = await RecipientKeypair.generate();
  const blob = await sealForConfigure("sk-ant-secret", recipient.publicKey, { account: "acme", scope, iat: 1 });
  assert.match(blob, /^[A-Za-z0-9+/]+={0,2}$/);
  const raw = fromBase64(blob);
  const plaintext = configureEnvelope("sk-ant-secret", { account: "acme", scope, iat: 1 });
  assert.equal(raw.length, ENC_LENGTH + plaintext.length + 16);
  const opened = await recipient.open(blob, CONFIGURE_INFO);
  assert.deepEqual(opened, plaintext);
});

test("a blob opens only with its info (the subject) and its recipient", async () => {
  const recipient = await RecipientKeypair.generate();
  const other = await RecipientKeypair.generate();
  const blob = await seal(new TextEncoder().encode("k"), recipient.publicKey, RESOLVE_INFO);
  assert.equal(new TextDecoder().decode(await recipient.open(blob, RESOLVE_INFO)), "k");
  await assert.rejects(recipient.open(blob, CONFIGURE_INFO));
  await assert.rejects(other.open(blob, RESOLVE_INFO));
});

test("url-safe and unpadded base64 are refused", () => {
  assert.deepEqual(fromBase64(toBase64(new Uint8Array([251, 255]))), new Uint8Array([251, 255]));
  assert.equal(toBase64(new Uint8Array([251, 255])), "+/8=");
  assert.throws(() => fromBase64("-_8="), TypeError);
  assert.throws(() => fromBase64("+/8"), TypeError);
});

test("a public key must be 32 bytes", async () => {
  await assert.rejects(seal(new Uint8Array([1]), toBase64(new Uint8Array(31)), RESOLVE_INFO), TypeError);
});

test("the sealing module is browser-safe: no Node-only import", async () => {
  for (const file of ["seal.js", "base64.js"]) {
    const source = await readFile(new URL(`../dist/${file}`, import.meta.url), "utf8");
    const imports = [...source.matchAll(/from\s+"([^"]+)"/g)].map((m) => m[1]);
    assert.ok(imports.every((name) => name.startsWith("@hpke/") || name.startsWith("./")), file + ": " + imports);
    assert.doesNotMatch(source, /\bnode:|\bBuffer\b|\brequire\(/);
  }
});

// Interop with byok_contracts.sealing (Python): PY_VECTOR is a blob Python sealed to a
// keypair whose private half is in the vector, and TS must open it; TS_OUT receives a
// blob TS sealed to Python's public key, for the Python side to open.
test("interop with the Python sealing helpers", { skip: !process.env.BYOK_SEAL_INTEROP }, async () => {
  const vector = JSON.parse(process.env.BYOK_SEAL_INTEROP);
  const blob = await sealForConfigure(vector.key, vector.public_key, {
    account: vector.account,
    scope: vector.scope,
    requestId: vector.request_id,
    iat: vector.iat,
  });
  console.log(`TS_SEALED=${blob}`);
});
