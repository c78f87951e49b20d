import { parseStreamId } from '../../shared/opencti/stream-id.js';
import { stixIdOf } from '../../shared/opencti/stix-id.js';
import type { Format } from './format.js';

/**
 * CloudEvents 1.0, HTTP binary mode: the body as OpenCTI sent it, the
 * attributes in `ce-` headers. `content-type` stands for datacontenttype,
 * which the binding forbids as `ce-datacontenttype`. No parsing: the
 * subject (the STIX id) is read from the body's start (stixIdOf).
 */
export function cloudEventsFormat(openctiUrl: string, liveStreamId: string): Format {
  const source = percentEncode(`${openctiUrl}/stream/${liveStreamId}`);
  return {
    name: 'cloudevents',
    format(event) {
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': percentEncode(event.webhookId),
        'ce-source': source,
        'ce-type': `io.opencti.stream.${event.event}`,
      };
      // Optional attributes are left out rather than guessed: a receiver (the SDK) would put its own clock in ce-time.
      const ms = parseStreamId(event.streamId)?.ms;
      if (ms !== undefined) headers['ce-time'] = new Date(ms).toISOString();
      const subject = stixIdOf(event.body);
      if (subject !== undefined) headers['ce-subject'] = percentEncode(subject);
      return { body: event.body, headers };
    },
  };
}

/** What the binding leaves as is: printable ASCII but `"` and `%` (http-protocol-binding.md §3.1.3.2). */
const VERBATIM = /^[\x21\x23\x24\x26-\x7e]*$/;

/** Percent-encodes a header value per UTF-8 byte, upper-case hex, as the HTTP binding requires. */
export function percentEncode(value: string): string {
  if (VERBATIM.test(value)) return value;
  let encoded = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    encoded += byte > 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}
