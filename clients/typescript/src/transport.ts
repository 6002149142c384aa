// The request/reply core: JSON in, typed reply or ByokError out, never a silent hang.
import {
  connect as natsConnect,
  type ConnectionOptions,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";

import { ByokError } from "./errors.js";
import type { ErrorReply } from "./generated/contract.js";

export interface ConnectOptions {
  /** One URL or several (a cluster): an array, or one string separated by commas as
   * `BYOK_NATS_URL` gives it (`nats://a:4222,nats://b:4222`). */
  servers: string | string[];
  /** The NATS user of your role (`backend` or `runtime` under `make run`). */
  user?: string;
  pass?: string;
  /** Replies arrive under this prefix; with authorization on it is `_INBOX_<role>`. */
  inboxPrefix?: string;
  /** Milliseconds to wait for a reply (default 10 000). */
  timeout?: number;
  /** Anything else the NATS client accepts. */
  nats?: Partial<ConnectionOptions>;
}

const utf8 = new TextEncoder();

/** The server URLs of `servers`: a comma-separated string split (blanks dropped), as the
 * Python client reads `BYOK_NATS_URL`; nats.js takes a list, not such a string. */
export function serverList(servers: string | string[]): string[] {
  const parts = typeof servers === "string" ? servers.split(",") : servers;
  return parts.map((url) => url.trim()).filter((url) => url.length > 0);
}

export class Transport {
  constructor(
    readonly nc: NatsConnection,
    readonly timeout = 10_000,
    private readonly owned = false,
  ) {}

  static async connect(options: ConnectOptions): Promise<Transport> {
    const nc = await natsConnect({
      servers: serverList(options.servers),
      user: options.user,
      pass: options.pass,
      inboxPrefix: options.inboxPrefix,
      maxReconnectAttempts: -1,
      ...options.nats,
    });
    return new Transport(nc, options.timeout ?? 10_000, true);
  }

  async close(): Promise<void> {
    if (this.owned) await this.nc.drain();
  }

  /** Encode `body`, refusing what the server would refuse (its `max_payload`). */
  encode(subject: string, body: unknown): Uint8Array {
    const data = utf8.encode(JSON.stringify(body));
    const limit = this.nc.info?.max_payload;
    if (limit !== undefined && data.length > limit) {
      throw new ByokError(
        400,
        "payload_too_large",
        `The body for ${subject} is ${data.length} bytes; the server accepts ${limit}`,
      );
    }
    return data;
  }

  /** Send `body` and return the reply, throwing ByokError for an error reply. */
  async request<R>(subject: string, body: unknown): Promise<R> {
    const data = this.encode(subject, body);
    let reply;
    try {
      reply = await this.nc.request(subject, data, { timeout: this.timeout });
    } catch (err) {
      if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
        throw new ByokError(503, "no_responders", `No service answers ${subject}`);
      }
      if (err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError)) {
        throw new ByokError(503, "timeout", `No reply on ${subject} within ${this.timeout} ms`);
      }
      throw err;
    }
    const parsed = reply.json<R | ErrorReply>();
    if (isError(parsed)) throw ByokError.fromReply(parsed);
    return parsed as R;
  }
}

function isError(value: unknown): value is ErrorReply {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { status?: unknown }).status === "error"
  );
}
