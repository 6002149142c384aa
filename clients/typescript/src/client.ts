// ByokClient: the same surface as the Python byok_client.ByokClient, on the official NATS
// JS client. Keys are sealed inside configure() and opened inside resolve(); they never
// leave the process in clear and never appear in an enumerable property.
import { jetstream } from "@nats-io/jetstream";

import { ByokError } from "./errors.js";
import type * as C from "./generated/contract.js";
import { type ScopeLike, toScope } from "./scope.js";
import { RESOLVE_INFO, RecipientKeypair, sealForConfigure } from "./seal.js";
import * as S from "./subjects.js";
import { type ConnectOptions, Transport } from "./transport.js";

export type Provider = C.KeyConfigured["provider"];
type Settings = Omit<C.ConfigureScope, "scope">;
type Policy = Omit<C.ConfigureAccount, "account">;

export interface ConfigureOptions {
  /** The account the scope belongs to (required for every scope but platform). */
  account?: string;
  provider?: string;
  model?: string;
  actor?: string;
  requestId?: string;
}

export interface WriteOptions {
  account?: string;
  actor?: string;
}

export interface ResolveOptions {
  provider?: string;
  model?: string;
  source?: "auto" | "byok" | "credits";
  /** Ask on `byok.v1.resolve.<account>` (runtimes whose permissions name their tenants). */
  perAccount?: boolean;
}

/** The answer to one resolve. `apiKey` is not enumerable: logging a Route does not leak it. */
export interface Route {
  readonly source: "byok" | "platform";
  readonly provider: Provider;
  readonly model: string;
  readonly keyId: string;
  readonly scope: C.Scope;
  readonly creditsPaused: boolean;
  readonly reason: string;
  readonly apiKey: string;
}

export interface UsageOptions {
  route?: Route;
  inputTokens: number;
  outputTokens: number;
  provider?: string;
  model?: string;
  source?: "byok" | "platform";
  keyId?: string;
  /** Reuse it on retries: it is the dedupe key (Nats-Msg-Id). A new one by default. */
  requestId?: string;
  occurredAt?: Date;
}

export interface UsageQuery {
  scope?: ScopeLike;
  keyId?: string;
  account?: string;
  since?: Date;
  until?: Date;
}

const utf8 = new TextDecoder();

/** The Nats-Msg-Id of a usage.recorded: dedupe is per (account, request_id). */
export function usageMsgId(account: string, requestId: string): string {
  return `${account}:${requestId}`;
}

function defined<T extends object>(body: T): T {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as T;
}

export class ByokClient {
  private vaultKey: C.PublicKey | undefined;
  private keypair: Promise<RecipientKeypair> | undefined;

  constructor(readonly transport: Transport) {}

  static async connect(options: ConnectOptions): Promise<ByokClient> {
    return new ByokClient(await Transport.connect(options));
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  private request<R>(subject: string, body: unknown): Promise<R> {
    return this.transport.request<R>(subject, body);
  }

  health(service: S.Service): Promise<C.Health> {
    return this.request(S.health(service), {});
  }

  // --- product backends: keys, scopes, accounts ------------------------------------

  /** key-vault's sealing key, cached until `refresh` (configure refreshes on 409 stale_kid). */
  async publicKey(refresh = false): Promise<C.PublicKey> {
    if (this.vaultKey === undefined || refresh) {
      this.vaultKey = await this.request<C.PublicKey>(S.KEYS_PUBLIC_KEY, {});
    }
    return this.vaultKey;
  }

  private async configureBody(
    scope: ScopeLike,
    key: string,
    options: ConfigureOptions,
    refresh: boolean,
  ): Promise<C.ConfigureKey> {
    const target = toScope(scope);
    const vault = await this.publicKey(refresh);
    // The seal is bound to exactly what the body says: account (null for the platform),
    // scope and request_id (contracts/SEALING.md, "the bound configure envelope").
    const sealed = await sealForConfigure(key, vault.public_key, {
      account: options.account ?? null,
      scope: target,
      requestId: options.requestId ?? null,
    });
    return defined({
      scope: target,
      sealed_key: sealed,
      kid: vault.kid,
      actor: options.actor ?? "byok-client-ts",
      provider: options.provider,
      model: options.model,
      request_id: options.requestId,
      account: options.account,
    }) as C.ConfigureKey;
  }

  /** Validate live, encrypt and store `key` at `scope`. Throws ByokError (401, 403, 422...). */
  async configure(
    scope: ScopeLike,
    key: string,
    options: ConfigureOptions = {},
  ): Promise<C.KeyConfigured> {
    for (const refresh of [false, true]) {
      const body = await this.configureBody(scope, key, options, refresh);
      try {
        return await this.request<C.KeyConfigured>(S.KEYS_CONFIGURE, body);
      } catch (err) {
        if (!(err instanceof ByokError) || err.error !== "stale_kid" || refresh) throw err;
      }
    }
    throw new Error("unreachable");
  }

  /** Fire and forget: the outcome arrives as events.keys.configured / events.keys.rejected. */
  async publishConfigure(
    scope: ScopeLike,
    key: string,
    options: ConfigureOptions & { requestId: string },
  ): Promise<void> {
    const body = await this.configureBody(scope, key, options, false);
    this.transport.nc.publish(S.KEYS_CONFIGURE, this.transport.encode(S.KEYS_CONFIGURE, body));
    await this.transport.nc.flush();
  }

  /** The scope's keys: hints, models and states, never the keys. */
  async listKeys(scope: ScopeLike, options: { account?: string } = {}): Promise<C.KeyInfo[]> {
    const reply = await this.request<C.KeyList>(
      S.KEYS_LIST,
      defined({ scope: toScope(scope), account: options.account }),
    );
    return reply.keys;
  }

  /** Remove a key. Not idempotent: removing it again answers 404 `key_not_found`. */
  remove(scope: ScopeLike, provider: string, options: WriteOptions = {}): Promise<C.KeyRemoved> {
    return this.request(
      S.KEYS_REMOVE,
      defined({
        scope: toScope(scope),
        provider,
        actor: options.actor ?? "byok-client-ts",
        account: options.account,
      }),
    );
  }

  /** Disable a key without deleting it, or enable it again. */
  setEnabled(
    scope: ScopeLike,
    provider: string,
    enabled: boolean,
    options: WriteOptions = {},
  ): Promise<C.KeyStateChanged> {
    return this.request(
      S.KEYS_SET_ENABLED,
      defined({
        scope: toScope(scope),
        provider,
        enabled,
        actor: options.actor ?? "byok-client-ts",
        account: options.account,
      }),
    );
  }

  /** Any of byok_enabled, active_provider, read_only, route (and account, actor). */
  configureScope(
    scope: ScopeLike,
    settings: Settings & { account?: string },
  ): Promise<C.ScopeSettingsReply> {
    return this.request(S.SCOPES_CONFIGURE, defined({ scope: toScope(scope), ...settings }));
  }

  /** Any of plan, byok_allowed, mode, platform_fallback, allow_custom_models, actor. */
  configureAccount(account: string, policy: Policy): Promise<C.AccountPolicyReply> {
    return this.request(S.ACCOUNTS_CONFIGURE, defined({ account, ...policy }));
  }

  /** A runtime saw the provider answer `statusCode` for `keyId` (a 401 may revoke it). */
  report(keyId: string, statusCode: number, reason = ""): Promise<C.KeyReportAccepted> {
    return this.request(S.KEYS_REPORT, {
      key_id: keyId,
      status_code: statusCode,
      reason: reason.slice(0, 1024),
    });
  }

  // --- credits and usage ------------------------------------------------------------

  /** Add credits once per idempotency key (same key, other amount: 409). */
  grant(
    account: string,
    amount: number,
    options: { reason: string; idempotencyKey: string },
  ): Promise<C.Granted> {
    return this.request(S.LEDGER_GRANT, {
      account,
      amount,
      reason: options.reason,
      idempotency_key: options.idempotencyKey,
    });
  }

  balance(account: string): Promise<C.Balance> {
    return this.request(S.LEDGER_BALANCE, { account });
  }

  verifyLedger(account?: string): Promise<C.LedgerVerification> {
    return this.request(S.LEDGER_VERIFY, defined({ account }));
  }

  /** Calls, tokens and estimated cost of exactly one of scope, keyId, account. */
  usage(query: UsageQuery): Promise<C.UsageReport> {
    return this.request(
      S.USAGE_QUERY,
      defined({
        scope: query.scope === undefined ? undefined : toScope(query.scope),
        key_id: query.keyId,
        account: query.account,
        since: query.since?.toISOString(),
        until: query.until?.toISOString(),
      }),
    );
  }

  // --- runtimes ---------------------------------------------------------------------

  /** This client's X25519 keypair, made on first use; it never leaves the process. */
  runtimeKeypair(): Promise<RecipientKeypair> {
    this.keypair ??= RecipientKeypair.generate();
    return this.keypair;
  }

  /** Which key and model serve this request (chain most specific first). */
  async resolve(
    account: string,
    chain: ScopeLike[],
    options: ResolveOptions = {},
  ): Promise<Route> {
    const keypair = await this.runtimeKeypair();
    const body: C.Resolve = defined({
      account,
      chain: chain.map(toScope),
      provider: options.provider as Provider | undefined,
      model: options.model,
      source: options.source,
      recipient_key: keypair.publicKey,
    });
    const subject = options.perAccount ? S.resolveFor(account) : S.RESOLVE;
    const reply = await this.request<C.Resolved>(subject, body);
    const apiKey = utf8.decode(await keypair.open(reply.sealed_key, RESOLVE_INFO));
    const route = {
      source: reply.source,
      provider: reply.provider,
      model: reply.model,
      keyId: reply.key_id,
      scope: reply.scope,
      creditsPaused: reply.credits_paused,
      reason: reply.reason,
    };
    Object.defineProperty(route, "apiKey", { value: apiKey, enumerable: false });
    return route as Route;
  }

  /**
   * Publish byok.v1.usage.recorded to JetStream with `Nats-Msg-Id: <account>:<request_id>`.
   * Returns the request_id (reuse it when retrying). Throws ByokError 503
   * `usage_not_recorded` when JetStream did not store it (e.g. the stream is not
   * provisioned yet) or `usage_stream_full` when BYOK_USAGE is at its byte limit.
   */
  async recordUsage(account: string, chain: ScopeLike[], options: UsageOptions): Promise<string> {
    const route = options.route;
    const event: C.UsageRecorded = defined({
      request_id: options.requestId ?? crypto.randomUUID().replaceAll("-", ""),
      account,
      chain: chain.map(toScope),
      key_id: options.keyId ?? route?.keyId,
      source: (options.source ?? route?.source) as C.UsageRecorded["source"],
      provider: (options.provider ?? route?.provider) as Provider,
      model: (options.model ?? route?.model) as string,
      input_tokens: options.inputTokens,
      output_tokens: options.outputTokens,
      occurred_at: (options.occurredAt ?? new Date()).toISOString(),
    });
    const data = this.transport.encode(S.USAGE_RECORDED, event);
    try {
      await jetstream(this.transport.nc).publish(S.USAGE_RECORDED, data, {
        msgID: usageMsgId(account, event.request_id),
        timeout: this.transport.timeout,
      });
    } catch (err) {
      const text = String(err instanceof Error ? `${err.message} ${String(err.cause ?? "")}` : err);
      if (/maximum/i.test(text)) {
        throw new ByokError(
          503,
          "usage_stream_full",
          "Usage not recorded: the BYOK_USAGE stream is full; retry later with the same request_id",
        );
      }
      throw new ByokError(
        503,
        "usage_not_recorded",
        "Usage not recorded: JetStream did not store it (is BYOK_USAGE provisioned?); " +
          "retry with the same request_id",
      );
    }
    return event.request_id;
  }
}
