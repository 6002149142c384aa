export { ByokClient, usageMsgId } from "./client.js";
export type {
  ConfigureOptions,
  Provider,
  ResolveOptions,
  Route,
  UsageOptions,
  UsageQuery,
  WriteOptions,
} from "./client.js";
export { ByokError, COMMON_ERRORS, ERROR_CODES, type ErrorWord, SUBJECT_ERRORS } from "./errors.js";
export type * from "./generated/contract.js";
export { PLATFORM, SCOPE_TYPES, type ScopeLike, toScope } from "./scope.js";
export {
  CONFIGURE_INFO,
  type ConfigureBinding,
  configureEnvelope,
  ENC_LENGTH,
  RecipientKeypair,
  RESOLVE_INFO,
  SUITE,
  type SealRequest,
  seal,
  sealForConfigure,
} from "./seal.js";
export * as subjects from "./subjects.js";
export { type ConnectOptions, serverList, Transport } from "./transport.js";
