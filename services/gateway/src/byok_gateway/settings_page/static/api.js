// The gateway's REST API as the settings page uses it, with the end-user token.
// Every request goes to this origin (CSP connect-src 'self'); none carries a provider key.

let token = "";

/** The end-user token: from the URL fragment once (then out of the address bar), else the tab's storage. */
export function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  if (fromHash) {
    sessionStorage.setItem("byok-token", fromHash);
    // The token never stays in the address bar (history, screenshots, referrers).
    history.replaceState(null, "", location.pathname + location.search);
    token = fromHash;
  } else {
    token = sessionStorage.getItem("byok-token") || "";
  }
  return token;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `Request failed (${status})`);
    this.status = status;
    this.code = (body && body.error) || "";
  }

  /** The token itself is refused (expired, revoked): the page must be opened again. */
  get tokenRefused() {
    return this.status === 401 && ["unauthorized", "invalid_token", "token_expired", "missing_token"]
      .includes(this.code);
  }
}

export async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, { message: "The settings service cannot be reached. Try again." });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

/** "workspace:acme-42" -> {type, id} (whoami and end-user tokens name scopes this way). */
export function parseScope(text) {
  const at = text.indexOf(":");
  return { type: text.slice(0, at), id: text.slice(at + 1) };
}

export const scopeText = (scope) => `${scope.type}:${scope.id}`;

export const scopePath = (scope) =>
  `/v1/scopes/${encodeURIComponent(scope.type)}/${encodeURIComponent(scope.id)}`;

export const accountPath = (account) => `/v1/accounts/${encodeURIComponent(account)}`;
