import type { ChatRequest } from "../backends/types.ts";
import { MIND_PROTOCOL_VERSION } from "../prompts/mind.ts";
import { CompactStringSet } from "../util/compact-set.ts";
import type { Asker } from "../requests/ask.ts";
import type { RequestCache } from "../requests/cache.ts";
import { openModel, type ModelRequestSettings, type OpenedModel } from "../requests/open-model.ts";
import { DISTILL_DEFAULTS, distillIdentity } from "./defaults.ts";
import { NotAnswered, type Answerer, type MindStep } from "./pipeline.ts";

/** A counting semaphore: at most `permits` holders at once, waiters served in arrival order. */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  constructor(private permits: number) {}

  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.permits > 0) this.permits -= 1;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.permits += 1;
    }
  }
}

/**
 * Answers from the model through the Asker (cache, retries, timeouts, each answer in the cache before it is used),
 * with at most `concurrency` requests in flight. Identical requests in flight at once (a product
 * shared by several records, a repeated pair) are asked once.
 */
export class LiveAnswerer implements Answerer {
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly gate: Semaphore;

  constructor(
    private readonly asker: Asker,
    concurrency: number,
  ) {
    this.gate = new Semaphore(concurrency);
  }

  answer(_step: MindStep, request: ChatRequest): Promise<string> {
    const key = this.asker.keyOf(request);
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.gate.use(() => this.asker.ask(request, key)).then((result) => result.response.text);
      this.inFlight.set(key, pending);
      const forget = () => this.inFlight.delete(key);
      pending.then(forget, forget);
    }
    return pending;
  }
}

/**
 * Answers only from the cache, for the offline modes: a request with no cached answer is handed
 * to `onMissing` once (emit-batch writes it to the batch file) and its chain waits (NotAnswered).
 */
export class CacheOnlyAnswerer implements Answerer {
  /** Keys handed to onMissing, as compact hashes: an emit-batch of millions of requests stays small. */
  private readonly missing = new CompactStringSet();
  cacheHits = 0;
  readonly missingPerStep: Record<MindStep, number> = { features: 0, intentions: 0, filter: 0 };

  constructor(
    private readonly cache: RequestCache,
    private readonly keyOf: (request: ChatRequest) => string,
    private readonly onMissing: (step: MindStep, key: string, request: ChatRequest) => void = () => undefined,
  ) {}

  get missingCount(): number {
    return this.missing.size;
  }

  async answer(step: MindStep, request: ChatRequest): Promise<string> {
    const key = this.keyOf(request);
    const hit = this.cache.get(key);
    if (hit) {
      this.cacheHits += 1;
      return hit.response.text;
    }
    if (this.missing.add(key)) {
      this.missingPerStep[step] += 1;
      this.onMissing(step, key, request);
    }
    throw new NotAnswered(step);
  }
}

/** What opening the MIND model takes: its servers, key, retries and timeout, cache root, and the run's signal. */
export interface MindModelSettings
  extends Pick<
    ModelRequestSettings,
    "apiKeyEnv" | "retries" | "timeoutMs" | "preflightTimeoutMs" | "cacheDir" | "cache" | "signal" | "log" | "notice" | "concurrency"
  > {
  model: string;
  /** The servers, asked as one pool (checked first). */
  baseUrl: readonly string[];
}

/**
 * The vision-language model behind its servers, as one pool under distill's cache identity (the
 * model name only) and protocol, with the stage's retries and timeout: distill's live road, and
 * the road of an analysis that regenerates MIND intentions.
 */
export function openMindModel(settings: MindModelSettings): Promise<OpenedModel> {
  const { model, baseUrl, ...rest } = settings;
  return openModel({
    ...rest,
    model: { kind: "openai", model },
    baseUrls: baseUrl,
    identity: distillIdentity(model),
    protocolVersion: MIND_PROTOCOL_VERSION,
    preflightTimeoutMs: settings.preflightTimeoutMs ?? DISTILL_DEFAULTS.preflightTimeoutMs,
  });
}
