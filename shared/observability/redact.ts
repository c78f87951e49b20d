/** A URL fit for logs: no user, password or query string (tokens hide there). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '[unparseable url]';
  }
}

/** Path segments this long are taken for tokens: Slack puts its webhook secret in the path, Teams Workflows the workflow id. */
const TOKEN_SEGMENT_LENGTH = 16;

/**
 * A webhook URL for logs and error messages: like redactUrl (no user
 * information, no query), and every long path segment masked, since chat
 * and automation platforms make the URL itself the credential
 * (`https://hooks.slack.com/services/T0…/B0…/<secret>`).
 */
export function redactWebhookUrl(url: string): string {
  const redacted = redactUrl(url);
  if (redacted === '[unparseable url]') return redacted;
  const { protocol, host, pathname } = new URL(redacted);
  const path = pathname
    .split('/')
    .map((segment) => (segment.length >= TOKEN_SEGMENT_LENGTH ? '…' : segment))
    .join('/');
  return `${protocol}//${host}${path}`;
}
