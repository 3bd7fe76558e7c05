import type { CallContext } from "./types.ts";

/**
 * One attempt's cancellation (its timeout, or the run's Ctrl-C), cheap until a backend asks for a
 * real AbortSignal: an AbortController, its signal and an abort listener cost about 20 us per
 * request, a tenth of the client's whole cost per answer against a fast server
 * (docs/performance.md). The chat hot path listens through `onAbort`; SDK-based backends read
 * `signal`, which is made on first use and is already aborted if the attempt was.
 */
export class Attempt implements CallContext {
  private controller: AbortController | undefined;
  private listeners: Array<(reason: unknown) => void> | undefined;
  private abortReason: unknown;
  private abortedFlag = false;

  get aborted(): boolean {
    return this.abortedFlag;
  }

  get reason(): unknown {
    return this.abortReason;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedFlag) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Calls `listener` once when the attempt is aborted (at once if it already was); returns its removal. */
  onAbort(listener: (reason: unknown) => void): () => void {
    if (this.abortedFlag) {
      listener(this.abortReason);
      return () => undefined;
    }
    this.listeners ??= [];
    this.listeners.push(listener);
    return () => {
      const at = this.listeners?.indexOf(listener) ?? -1;
      if (at >= 0) this.listeners!.splice(at, 1);
    };
  }

  abort(reason: unknown): void {
    if (this.abortedFlag) return;
    this.abortedFlag = true;
    this.abortReason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener(reason);
    this.controller?.abort(reason);
  }
}
