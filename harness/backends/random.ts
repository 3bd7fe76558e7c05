import { deriveSeed, mulberry32 } from "../stats/rng.ts";
import { BackendError, type BackendIdentity, type ChatRequest, type ChatResponse, type ModelBackend } from "./types.ts";

/**
 * `baseline:random`: a uniform draw among the question's option letters, seeded by the run seed,
 * the question id and the sample index, so it does not depend on concurrency or order.
 * Its expected accuracy (mean of 1/#options) is reported beside the draw.
 */
export class RandomBaseline implements ModelBackend {
  readonly cacheable = false;
  constructor(private readonly seed: number) {}

  id(): string {
    return "baseline:random";
  }

  identity(): BackendIdentity {
    return { kind: "baseline", model: "random" };
  }

  async callApi(request: ChatRequest): Promise<ChatResponse> {
    const choices = request.choices;
    if (!choices || choices.length === 0) throw new BackendError("bad-request", "baseline:random needs the question's option letters");
    const draw = mulberry32(deriveSeed(this.seed, request.itemId ?? "", request.sampleIndex))();
    return { text: choices[Math.floor(draw * choices.length)]! };
  }
}
