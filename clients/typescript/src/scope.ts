import type { Scope, ScopeType } from "./generated/contract.js";

export type { Scope, ScopeType };
/** A scope as an object or as `type:id` (e.g. `"workspace:acme"`). */
export type ScopeLike = Scope | `${ScopeType}:${string}`;

export const SCOPE_TYPES: readonly ScopeType[] = [
  "session",
  "agent",
  "chatbot",
  "workspace",
  "account",
  "user",
  "platform",
];
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Parse `"workspace:acme"` or check an object; throws TypeError on anything else. */
export function toScope(scope: ScopeLike | string): Scope {
  const parsed =
    typeof scope === "string"
      ? { type: scope.slice(0, scope.indexOf(":")), id: scope.slice(scope.indexOf(":") + 1) }
      : scope;
  if (typeof scope === "string" && !scope.includes(":")) {
    throw new TypeError("a scope string looks like type:id");
  }
  if (!SCOPE_TYPES.includes(parsed.type as ScopeType) || !ID.test(parsed.id)) {
    throw new TypeError("not a byok scope (type one of " + SCOPE_TYPES.join(", ") + ")");
  }
  return { type: parsed.type as ScopeType, id: parsed.id };
}

export const PLATFORM: Scope = { type: "platform", id: "default" };
