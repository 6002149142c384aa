// Sealing exactly as byok's contract fixes it (contracts/REFERENCE.md, "Sealing"):
// RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM, empty AAD,
// info = the subject name, blob = standard padded base64 of enc (32 bytes) || ciphertext.
// This module uses WebCrypto only (through @hpke/core): it runs in browsers as in Node.
import { Aes256Gcm, CipherSuite, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";

import { fromBase64, toBase64 } from "./base64.js";
import type { Scope } from "./generated/contract.js";

export { fromBase64, toBase64 };

export const SUITE = "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM";
export const CONFIGURE_INFO = "byok.v1.keys.configure";
export const RESOLVE_INFO = "byok.v1.resolve";
export const ENC_LENGTH = 32;
const TAG_LENGTH = 16;

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes256Gcm(),
});
const utf8 = new TextEncoder();

function publicKeyBytes(publicKey: string | Uint8Array): Uint8Array {
  const raw = typeof publicKey === "string" ? fromBase64(publicKey) : publicKey;
  if (raw.length !== 32) throw new TypeError("a public key is 32 bytes (X25519)");
  return raw;
}

/** Seal `plaintext` to a base64 X25519 public key for travel on `info` (the subject). */
export async function seal(
  plaintext: Uint8Array,
  publicKey: string | Uint8Array,
  info: string,
): Promise<string> {
  const recipientPublicKey = await suite.kem.deserializePublicKey(
    publicKeyBytes(publicKey).slice().buffer,
  );
  const sender = await suite.createSenderContext({ recipientPublicKey, info: utf8.encode(info) });
  const ct = new Uint8Array(await sender.seal(plaintext.slice().buffer)); // empty AAD
  const enc = new Uint8Array(sender.enc);
  const blob = new Uint8Array(enc.length + ct.length);
  blob.set(enc, 0);
  blob.set(ct, enc.length);
  return toBase64(blob);
}

/** The fields a configure seal is bound to (contracts/SEALING.md: the 0.2 envelope). */
export interface ConfigureBinding {
  /** The account the scope belongs to; `null` only for the platform scope. */
  account: string | null;
  scope: Scope;
  /** The request's `request_id` (send the same one in the body), or null. */
  requestId?: string | null;
  /** Unix seconds; now by default. key-vault accepts 300 s in the past, 60 s ahead. */
  iat?: number;
}

/** The exact plaintext of a configure seal: compact UTF-8 JSON, keys in this order. */
export function configureEnvelope(key: string, binding: ConfigureBinding): Uint8Array {
  const envelope = {
    v: 1,
    key,
    account: binding.account,
    scope: { type: binding.scope.type, id: binding.scope.id },
    iat: Math.floor(binding.iat ?? Date.now() / 1000),
    request_id: binding.requestId ?? null,
  };
  return utf8.encode(JSON.stringify(envelope));
}

/** Everything one configure seal needs, in one object (the settings page's form). */
export interface SealRequest extends ConfigureBinding {
  key: string;
  /** key-vault's public key (`public_key` of keys.public-key / GET /v1/public-key). */
  publicKey: string | Uint8Array;
}

/**
 * Seal a provider key for `byok.v1.keys.configure` (and `POST /v1/scopes/.../keys`):
 * returns the `sealed_key` to send with the public key's `kid`. Usable in a browser.
 * Call it as `sealForConfigure(key, publicKey, binding)` or `sealForConfigure({key,
 * publicKey, account, scope, requestId})`.
 */
export async function sealForConfigure(request: SealRequest): Promise<string>;
export async function sealForConfigure(
  key: string,
  publicKey: string | Uint8Array,
  binding: ConfigureBinding,
): Promise<string>;
export async function sealForConfigure(
  keyOrRequest: string | SealRequest,
  publicKey?: string | Uint8Array,
  binding?: ConfigureBinding,
): Promise<string> {
  const request: SealRequest =
    typeof keyOrRequest === "string"
      ? { ...(binding as ConfigureBinding), key: keyOrRequest, publicKey: publicKey as string }
      : keyOrRequest;
  return seal(configureEnvelope(request.key, request), request.publicKey, CONFIGURE_INFO);
}

/** An in-memory X25519 keypair to receive sealed keys (runtimes: resolve replies). */
export class RecipientKeypair {
  private constructor(
    private readonly pair: CryptoKeyPair,
    /** Standard base64 of the 32-byte public key: send it as `recipient_key`. */
    readonly publicKey: string,
  ) {}

  static async generate(): Promise<RecipientKeypair> {
    const pair = await suite.kem.generateKeyPair();
    const raw = new Uint8Array(await suite.kem.serializePublicKey(pair.publicKey));
    return new RecipientKeypair(pair, toBase64(raw));
  }

  /** Open a blob sealed to this keypair on `info`; throws on any mismatch. */
  async open(sealed: string, info: string): Promise<Uint8Array> {
    const blob = fromBase64(sealed);
    if (blob.length <= ENC_LENGTH + TAG_LENGTH) throw new TypeError("sealed blob too short");
    const recipient = await suite.createRecipientContext({
      recipientKey: this.pair,
      enc: blob.slice(0, ENC_LENGTH).buffer,
      info: utf8.encode(info),
    });
    return new Uint8Array(await recipient.open(blob.slice(ENC_LENGTH).buffer));
  }
}
