import { ReplyError } from 'ioredis';

/** A Redis error reply, as RESP defines it: a code (its first word) then text. */
export interface RedisReply {
  /** `NOSCRIPT`, `OOM`, `WRONGPASS`, `ERR`…: what callers branch on. */
  code: string;
  /** The reply's first line, code included, for messages to people. */
  text: string;
  /**
   * ioredis gave up on every sentinel and passed the last sentinel's reply
   * on inside an Error of its own ("All sentinels are unreachable… Last
   * error: WRONGPASS …"), keeping nothing of it but its text.
   */
  fromSentinel: boolean;
}

const SENTINELS_UNREACHABLE = /^All sentinels are unreachable.*? Last error: (.*)$/s;
const REPLY = /^([A-Z][A-Z_-]*)(?: |$)/;

/**
 * The one place that reads a Redis error reply: its code, or undefined when
 * `error` is not a reply (a lost connection, a timeout, a bug). Redis
 * identifies a reply by its first word only, so that word is the code.
 */
export function redisReply(error: unknown): RedisReply | undefined {
  if (error instanceof (ReplyError as new () => Error)) return parse(error.message, false);
  if (!(error instanceof Error)) return undefined;
  const relayed = SENTINELS_UNREACHABLE.exec(error.message)?.[1];
  return relayed === undefined ? undefined : parse(relayed, true);
}

function parse(message: string, fromSentinel: boolean): RedisReply | undefined {
  const text = message.split('\n', 1)[0]!;
  const code = REPLY.exec(text)?.[1];
  return code === undefined ? undefined : { code, text, fromSentinel };
}
