// @byok/client against a real byok stack (real nats-server with authorization, the five
// services; fake LLM providers only). Started by tests/test_typescript_client.py, which
// passes the server, credentials and fixtures in BYOK_TS_STACK (JSON); skipped without it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { ByokClient, ByokError, SUITE, sealForConfigure, subjects } from "../dist/index.js";

const env = process.env.BYOK_TS_STACK ? JSON.parse(process.env.BYOK_TS_STACK) : null;
const ACCOUNT = "acme-ts";
const SCOPE = "workspace:ts-ws";
// Tenancy (0.2): `account` on every write. `env.tenancy` is false on a pre-0.2 stack.
const acct = (account) => (env?.tenancy ? { account } : {});

async function until(probe, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (check(value)) return value;
    assert.ok(Date.now() < deadline, `still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function rejectsWith(promise, code, error) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof ByokError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.error, error, err.message);
    return true;
  });
}

describe("@byok/client against the real stack", { skip: env === null ? "BYOK_TS_STACK not set (run by make test)" : false }, () => {
  let backend;
  let runtime;

  before(async () => {
    backend = await ByokClient.connect({ servers: env.url, ...env.roles.backend, timeout: 10_000 });
    runtime = await ByokClient.connect({ servers: env.url, ...env.roles.runtime, timeout: 5_000 });
  });
  after(async () => {
    await backend?.close();
    await runtime?.close();
  });

  test("a comma-separated servers string (as BYOK_NATS_URL gives a cluster) connects", async () => {
    const url = new URL(env.url);
    const both = `${env.url}, nats://localhost:${url.port}`;
    const client = await ByokClient.connect({ servers: both, ...env.roles.backend, timeout: 10_000 });
    try {
      assert.equal((await client.health("resolver")).status, "ok");
    } finally {
      await client.close();
    }
  });

  test("every service answers health", async () => {
    for (const service of subjects.SERVICES) {
      const health = await backend.health(service);
      assert.equal(health.status, "ok");
      assert.equal(health.service, service);
    }
  });

  test("the public key: 32 bytes of X25519, a kid, the suite string", async () => {
    const key = await backend.publicKey();
    assert.equal(key.suite, SUITE);
    assert.equal(Buffer.from(key.public_key, "base64").length, 32);
    assert.ok(key.kid.length > 0);
  });

  test("configure, list, disable, enable: a key sealed in TypeScript is stored", async () => {
    const reply = await backend.configure(SCOPE, env.keys.ts_anthropic, { ...acct(ACCOUNT), actor: "ts-test" });
    assert.equal(reply.status, "configured");
    assert.equal(reply.provider, "anthropic");
    assert.match(reply.hint, /^[\x20-\x7e]+$/); // ASCII only
    assert.ok(reply.hint.includes("..."));
    assert.ok(!reply.hint.includes(env.keys.ts_anthropic.slice(8, -4)));
    const keys = await backend.listKeys(SCOPE, acct(ACCOUNT));
    assert.deepEqual(keys.map((k) => [k.provider, k.state, k.key_id]), [["anthropic", "active", reply.key_id]]);
    assert.equal((await backend.setEnabled(SCOPE, "anthropic", false, acct(ACCOUNT))).state, "disabled");
    assert.equal((await backend.setEnabled(SCOPE, "anthropic", true, acct(ACCOUNT))).state, "active");
  });

  test("the provider's rejection is 401 invalid_key; an unknown key format is 422", async () => {
    await rejectsWith(backend.configure("workspace:ts-bad", env.keys.rejected, acct(ACCOUNT)), 401, "invalid_key");
    await rejectsWith(
      backend.configure("workspace:ts-bad", "rk-reseller-0123456789abcdef", acct(ACCOUNT)),
      422,
      "unrecognised_key_format",
    );
    assert.deepEqual(await backend.listKeys("workspace:ts-bad", acct(ACCOUNT)), []);
  });

  test("kid lifecycle: 409 stale_kid, and configure fetches the public key again once", async () => {
    const vault = await backend.publicKey();
    const body = {
      scope: { type: "workspace", id: "ts-kid" },
      sealed_key: "AAAA".repeat(20),
      kid: "0000000000000000",
      actor: "ts-test",
      ...acct(ACCOUNT),
    };
    await rejectsWith(backend.transport.request(subjects.KEYS_CONFIGURE, body), 409, "stale_kid");
    backend.vaultKey = { ...vault, kid: "0000000000000000" }; // a cached key from before a rotation
    const reply = await backend.configure("workspace:ts-kid", env.keys.ts_openai, acct(ACCOUNT));
    assert.equal(reply.provider, "openai");
    assert.equal((await backend.publicKey()).kid, vault.kid);
  });

  test("sealed_key in url-safe base64 is refused with 400", async () => {
    const vault = await backend.publicKey();
    const body = {
      scope: { type: "workspace", id: "ts-b64" },
      sealed_key: "-_-_" + "AAAA".repeat(20),
      kid: vault.kid,
      actor: "ts-test",
      ...acct(ACCOUNT),
    };
    await rejectsWith(backend.transport.request(subjects.KEYS_CONFIGURE, body), 400, "malformed_request");
  });

  test("limits: over MAX_BODY is a 400 reply; over max_payload is refused before sending", async () => {
    const big = { scope: { type: "workspace", id: "ts-big" }, pad: "x".repeat(100 * 1024) };
    await rejectsWith(backend.transport.request(subjects.KEYS_LIST, big), 400, "malformed_request");
    const huge = { scope: { type: "workspace", id: "ts-big" }, pad: "x".repeat(2 * 1024 * 1024) };
    assert.throws(() => backend.transport.encode(subjects.KEYS_LIST, huge), (err) => err.error === "payload_too_large");
    await rejectsWith(backend.transport.request(subjects.KEYS_LIST, huge), 400, "payload_too_large");
  });

  test("scope settings and account policy", async () => {
    const settings = await backend.configureScope("agent:ts-agent", { route: "metered", ...acct(ACCOUNT) });
    assert.equal(settings.status, "ok");
    assert.equal(settings.route, "metered");
    const policy = await backend.configureAccount(ACCOUNT, { mode: "byok_first", platform_fallback: true });
    assert.equal(policy.status, "ok");
    assert.equal(policy.mode, "byok_first");
  });

  test("ledger: grant is idempotent on its key; another amount is 409 idempotency_conflict", async () => {
    const first = await backend.grant(ACCOUNT, 500, { reason: "monthly", idempotencyKey: "ts-grant-1" });
    const again = await backend.grant(ACCOUNT, 500, { reason: "monthly", idempotencyKey: "ts-grant-1" });
    assert.equal(again.balance, first.balance);
    await rejectsWith(
      backend.grant(ACCOUNT, 700, { reason: "monthly", idempotencyKey: "ts-grant-1" }),
      409,
      "idempotency_conflict",
    );
    const balance = await backend.balance(ACCOUNT);
    assert.equal(balance.balance, first.balance);
    assert.equal(balance.mode, "byok_first");
  });

  test("cross-language: a key configured from Python resolves in TypeScript", async () => {
    const route = await runtime.resolve(env.python.account, [env.python.scope], { provider: "anthropic" });
    assert.equal(route.source, "byok");
    assert.equal(route.apiKey, env.python.key);
    assert.equal(route.keyId, env.python.key_id);
  });

  test("runtime: resolve opens the sealed key in memory, and a Route does not print it", async () => {
    const route = await runtime.resolve(ACCOUNT, ["session:ts-s1", SCOPE], { provider: "anthropic" });
    assert.equal(route.source, "byok");
    assert.equal(route.apiKey, env.keys.ts_anthropic);
    assert.equal(route.creditsPaused, true);
    assert.ok(!JSON.stringify(route).includes(env.keys.ts_anthropic));
    assert.ok(!Object.keys(route).includes("apiKey"));
    await rejectsWith(runtime.resolve(ACCOUNT, ["session:ts-none"], { source: "byok" }), 404, "no_key");
  });

  test("runtime: usage with Nats-Msg-Id is counted once however often it is published", async () => {
    const route = await runtime.resolve(ACCOUNT, [SCOPE], { provider: "anthropic" });
    const options = { route, inputTokens: 120, outputTokens: 30, requestId: "ts-usage-1" };
    const started = performance.now();
    const id = await runtime.recordUsage(ACCOUNT, ["session:ts-s1", SCOPE], options);
    assert.equal(id, "ts-usage-1");
    await runtime.recordUsage(ACCOUNT, ["session:ts-s1", SCOPE], options); // a retry
    const report = await until(
      () => backend.usage({ scope: "session:ts-s1" }),
      (r) => r.calls >= 1,
    );
    console.log(`USAGE_LAG_MS=${Math.round(performance.now() - started)}`);
    await new Promise((r) => setTimeout(r, 300));
    const settled = await backend.usage({ keyId: route.keyId });
    assert.equal(report.status, "ok");
    assert.equal(settled.calls, 1);
    assert.equal(settled.input_tokens, 120);
    assert.equal(settled.output_tokens, 30);
  });

  test("remove is not idempotent: the second remove answers 404 key_not_found", async () => {
    await backend.configure("workspace:ts-rm", env.keys.ts_gemini, acct(ACCOUNT));
    assert.equal((await backend.remove("workspace:ts-rm", "gemini", acct(ACCOUNT))).status, "removed");
    await rejectsWith(backend.remove("workspace:ts-rm", "gemini", acct(ACCOUNT)), 404, "key_not_found");
  });

  test("tenancy: resolve.<account> serves its account and refuses another", { skip: !env?.tenancy }, async () => {
    const route = await runtime.resolve(ACCOUNT, [SCOPE], { provider: "anthropic", perAccount: true });
    assert.equal(route.apiKey, env.keys.ts_anthropic);
    const keypair = await runtime.runtimeKeypair();
    const body = { account: ACCOUNT, chain: [{ type: "workspace", id: "ts-ws" }], recipient_key: keypair.publicKey };
    await rejectsWith(runtime.transport.request(subjects.resolveFor("acme-other"), body), 403, "wrong_account");
    // a chain holding another account's scope
    await rejectsWith(runtime.resolve(env.python.account, [SCOPE], { provider: "anthropic" }), 403, "wrong_account");
    // a write for a scope of another account
    await rejectsWith(backend.remove(SCOPE, "anthropic", { account: "acme-other" }), 403, "wrong_account");
    await rejectsWith(backend.remove(SCOPE, "anthropic", {}), 400, "account_required");
  });

  test("the bound seal: a configure body moved to another scope is refused", { skip: !env?.tenancy }, async () => {
    const vault = await backend.publicKey();
    const sealed = await sealForConfigure(env.keys.ts_openai, vault.public_key, {
      account: ACCOUNT,
      scope: { type: "workspace", id: "ts-seal-a" },
    });
    const body = { scope: { type: "workspace", id: "ts-seal-b" }, sealed_key: sealed, kid: vault.kid, actor: "ts", account: ACCOUNT };
    await rejectsWith(backend.transport.request(subjects.KEYS_CONFIGURE, body), 400, "seal_mismatch");
    const old = await sealForConfigure(env.keys.ts_openai, vault.public_key, {
      account: ACCOUNT,
      scope: { type: "workspace", id: "ts-seal-b" },
      iat: Math.floor(Date.now() / 1000) - 301,
    });
    await rejectsWith(
      backend.transport.request(subjects.KEYS_CONFIGURE, { ...body, sealed_key: old }),
      400,
      "seal_expired",
    );
  });

  test("usage published before the streams exist: 503 usage_not_recorded, nothing stored", async () => {
    const bare = await ByokClient.connect({ servers: env.bare_url, timeout: 2_000 });
    try {
      const options = { inputTokens: 1, outputTokens: 1, source: "byok", provider: "openai", model: "gpt-4o-mini" };
      await rejectsWith(bare.recordUsage(ACCOUNT, [SCOPE], options), 503, "usage_not_recorded");
      await rejectsWith(bare.health("resolver"), 503, "no_responders");
    } finally {
      await bare.close();
    }
  });

  test("a runtime role may not configure keys (NATS permissions)", async () => {
    await assert.rejects(runtime.configure("workspace:ts-perm", env.keys.ts_openai, acct(ACCOUNT)));
  });
});
