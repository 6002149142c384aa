// Subjects of the v1 contract (byok_contracts.subjects). Every name here is public API.
export const PREFIX = "byok.v1";
export const KEYS_PUBLIC_KEY = `${PREFIX}.keys.public-key`;
export const KEYS_CONFIGURE = `${PREFIX}.keys.configure`;
export const KEYS_REMOVE = `${PREFIX}.keys.remove`;
export const KEYS_LIST = `${PREFIX}.keys.list`;
export const KEYS_SET_ENABLED = `${PREFIX}.keys.set-enabled`;
export const KEYS_REPORT = `${PREFIX}.keys.report`;
export const SCOPES_CONFIGURE = `${PREFIX}.scopes.configure`;
export const ACCOUNTS_CONFIGURE = `${PREFIX}.accounts.configure`;
export const RESOLVE = `${PREFIX}.resolve`;
export const USAGE_QUERY = `${PREFIX}.usage.query`;
export const USAGE_RECORDED = `${PREFIX}.usage.recorded`;
export const LEDGER_GRANT = `${PREFIX}.ledger.grant`;
export const LEDGER_BALANCE = `${PREFIX}.ledger.balance`;
export const LEDGER_VERIFY = `${PREFIX}.ledger.verify`;
export const EVENTS_PREFIX = `${PREFIX}.events`;
export const SERVICES = ["key-vault", "validator", "resolver", "credit-ledger", "usage-tracker"] as const;
export type Service = (typeof SERVICES)[number];

export const health = (service: Service): string => `${PREFIX}.health.${service}`;
/** `byok.v1.resolve.<account>`: NATS permissions can limit a runtime to its tenants. */
export const resolveFor = (account: string): string => `${RESOLVE}.${account}`;
