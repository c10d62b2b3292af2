/**
 * The size check a request body passes before it is sent.
 *
 * The server refuses a JSON body over its `max_body_bytes` (1 MiB by default) with 413; checked
 * here first, an oversized message (a huge paste, many attached files) fails at once with the
 * same error instead of uploading megabytes to be refused.
 */

/** The server's default `ChatExtApp.max_body_bytes`. */
export const MAX_BODY_BYTES = 1_048_576;

/** Thrown for a body over the limit; the API client turns it into an `ApiError` 413. */
export class BodyTooLarge extends Error {
  constructor(readonly size: number, readonly limit: number) {
    super(
      `The request is ${formatBytes(size)}; the server accepts at most ${formatBytes(limit)}. ` +
        'Shorten the message or attach less.'
    );
    this.name = 'BodyTooLarge';
  }
}

function formatBytes(n: number): string {
  return n >= 1_048_576 ? `${(n / 1_048_576).toFixed(1)} MB` : `${Math.ceil(n / 1024)} kB`;
}

/** `JSON.stringify(body)`, or BodyTooLarge when its UTF-8 form is over `limit` bytes. */
export function checkedJson(body: unknown, limit: number = MAX_BODY_BYTES): string {
  const text = JSON.stringify(body);
  // a UTF-16 string of n units is at most 3n UTF-8 bytes: count exactly only near the limit
  if (text.length * 3 > limit) {
    const size = new TextEncoder().encode(text).length;
    if (size > limit) {
      throw new BodyTooLarge(size, limit);
    }
  }
  return text;
}
