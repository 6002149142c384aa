// Standard, padded base64 (RFC 4648 section 4): the only alphabet byok accepts.
// Browser-safe (btoa/atob), no Node-only API.

const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Decode standard padded base64; url-safe (`-`, `_`) or unpadded input is refused. */
export function fromBase64(text: string): Uint8Array {
  if (!STANDARD.test(text)) {
    throw new TypeError("not standard padded base64 (url-safe and unpadded are refused)");
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) out[i] = binary.charCodeAt(i);
  return out;
}
