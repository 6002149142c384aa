import type { ErrorReply, ErrorWord } from "./generated/contract.js";

export { COMMON_ERRORS, ERROR_CODES, type ErrorWord, SUBJECT_ERRORS } from "./generated/contract.js";

/**
 * Every failed call: the v1 error reply (`code`, `error` word, `message`), or one the
 * client raises itself (`no_responders`, `timeout`, `payload_too_large`). Branch on
 * `error`; the words are listed per subject in contracts/REFERENCE.md.
 */
export class ByokError extends Error {
  readonly status = "error" as const;

  constructor(
    readonly code: number,
    /** A registered word (typed for autocompletion); a newer server may send others. */
    readonly error: ErrorWord | (string & {}),
    message: string,
  ) {
    super(message);
    this.name = "ByokError";
  }

  static fromReply(reply: ErrorReply): ByokError {
    return new ByokError(reply.code, reply.error, reply.message);
  }

  /** 503s (and 409 `concurrent_change`) may succeed when retried. */
  get retryable(): boolean {
    return this.code === 503 || this.error === "concurrent_change";
  }
}
