/**
 * When to try a refused turn again (pure).
 *
 * The server refuses a turn it cannot take now (429 queue full, 503 model loading or failed) with
 * a `Retry-After` header, and a refusal writes nothing (docs: "Retry"), so trying again never
 * duplicates a turn. We wait at least what the server asked, doubling from one try to the next,
 * and give up after {@link MAX_RETRIES} so a person is not left staring at a spinner.
 */

export const MAX_RETRIES = 3;
/** never wait longer than this between two tries, whatever the header says */
export const MAX_DELAY_S = 30;

/** `Retry-After` as seconds: a delta (`"3"`) or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Number(text);
  }
  const when = Date.parse(text);
  if (isNaN(when)) {
    return null;
  }
  return Math.max(0, (when - now) / 1000);
}

/**
 * Seconds to wait before retry number `attempt` (1-based) of a request refused with `status`
 * and `retryAfterS`, or null when it should not be retried.
 */
export function retryDelay(status: number, retryAfterS: number | null, attempt: number): number | null {
  if ((status !== 429 && status !== 503) || retryAfterS === null || attempt > MAX_RETRIES) {
    return null;
  }
  const backoff = Math.max(1, retryAfterS) * 2 ** (attempt - 1);
  return Math.min(MAX_DELAY_S, Math.max(retryAfterS, backoff));
}

/** Resolve after `ms`, or reject with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const abort = () => {
      clearTimeout(timer);
      reject(new DOMException('Aborted', 'AbortError'));
    };
    if (signal?.aborted) {
      abort();
      return;
    }
    timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
