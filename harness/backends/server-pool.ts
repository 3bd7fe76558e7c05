import { BackendError, type BackendIdentity, type CallContext, type ChatRequest, type ChatResponse, type ModelBackend } from "./types.ts";

interface Member {
  backend: ModelBackend;
  inFlight: number;
  /** Consecutive retryable failures; a failing server is passed over until its cool-down ends. */
  failures: number;
  coolUntil: number;
}

/**
 * Several servers that serve the same model, used as one backend: each call goes to the least
 * busy server that is not cooling down after a failure (ties in turn), so the retry of a failed
 * call lands on another server. The identity names the model only, not the servers, so answers
 * cached from any member (or from a batch engine) are shared by all.
 */
export class PooledBackend implements ModelBackend {
  readonly cacheable = true;
  private readonly members: Member[];
  private turn = 0;

  constructor(
    backends: readonly ModelBackend[],
    private readonly pooledIdentity: BackendIdentity,
    private readonly now: () => number = Date.now,
  ) {
    if (backends.length === 0) throw new Error("PooledBackend needs at least one backend");
    this.members = backends.map((backend) => ({ backend, inFlight: 0, failures: 0, coolUntil: 0 }));
  }

  id(): string {
    return `${this.pooledIdentity.kind}:${this.pooledIdentity.model}`;
  }

  identity(): BackendIdentity {
    return this.pooledIdentity;
  }

  get size(): number {
    return this.members.length;
  }

  /** Calls so far in flight per member, for tests and progress lines. */
  inFlight(): number[] {
    return this.members.map((m) => m.inFlight);
  }

  async preflight(signal: AbortSignal): Promise<void> {
    await Promise.all(this.members.map((m) => m.backend.preflight?.(signal)));
  }

  /** Least busy among the healthy members (all of them when none is healthy), ties broken in turn. */
  pick(): Member {
    const now = this.now();
    const healthy = this.members.filter((m) => m.coolUntil <= now);
    const candidates = healthy.length > 0 ? healthy : this.members;
    const start = this.turn++ % this.members.length;
    let best: Member | undefined;
    for (let k = 0; k < this.members.length; k++) {
      const member = this.members[(start + k) % this.members.length]!;
      if (!candidates.includes(member)) continue;
      if (best === undefined || member.inFlight < best.inFlight) best = member;
    }
    return best!;
  }

  async callApi(request: ChatRequest, context: CallContext): Promise<ChatResponse> {
    const member = this.pick();
    member.inFlight += 1;
    try {
      const response = await member.backend.callApi(request, context);
      member.failures = 0;
      member.coolUntil = 0;
      return response;
    } catch (error) {
      if (error instanceof BackendError && error.retryable) {
        member.failures += 1;
        member.coolUntil = this.now() + Math.min(30_000, 1000 * 2 ** (member.failures - 1));
      }
      throw error;
    } finally {
      member.inFlight -= 1;
    }
  }
}
