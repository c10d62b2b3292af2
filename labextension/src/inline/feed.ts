/**
 * One streaming completion as the inline completer consumes it: the provider's `fetch` returns
 * at once with an empty, incomplete item and a token; `stream(token)` then yields the growing
 * text while the server's events arrive (JupyterLab redraws the ghost text on each yield).
 */
export interface FeedState {
  text: string;
  done: boolean;
  error: string | null;
}

export class CompletionFeed {
  readonly state: FeedState = { text: '', done: false, error: null };

  append(text: string): void {
    this.state.text += text;
    this.wake();
  }

  /** The server's final, cleaned text (fences and a repeated suffix stripped) replaces the streamed one. */
  finish(text?: string, error?: string): void {
    if (this.state.done) {
      return;
    }
    if (typeof text === 'string') {
      this.state.text = text;
    }
    this.state.error = error ?? null;
    this.state.done = true;
    this.wake();
  }

  /** Snapshots of the state, one per change, ending with the final one. */
  async *updates(): AsyncGenerator<FeedState> {
    let seen = -1;
    for (;;) {
      if (this._version !== seen) {
        seen = this._version;
        // decide on the snapshot sent: the live state may have ended while the consumer held it
        const snapshot = { ...this.state };
        yield snapshot;
        if (snapshot.done) {
          return;
        }
        continue; // something may have come while the consumer held the snapshot
      }
      await new Promise<void>(resolve => this._waiters.push(resolve));
    }
  }

  private wake(): void {
    this._version++;
    const waiters = this._waiters;
    this._waiters = [];
    waiters.forEach(w => w());
  }

  private _version = 0;
  private _waiters: (() => void)[] = [];
}
