import { publicUrl } from "../util/redact.ts";
import { keepAliveFetch } from "./http.ts";
import {
  BackendError,
  kindForStatus,
  parseRetryAfter,
  serverMessage,
  type BackendIdentity,
  type CallContext,
  type ChatRequest,
  type ChatResponse,
  type ModelBackend,
} from "./types.ts";

export interface TextClassificationOptions {
  /**
   * Where to POST {"inputs": text}: a TEI server's /predict (http://host:8080/predict), a
   * dedicated Inference Endpoint's URL, or https://router.huggingface.co/hf-inference/models/<model>.
   */
  url: string;
  /** Names the model in reports and the cache; the URL decides what answers. */
  model: string;
  /** HF_TOKEN or the like, read by the caller from the environment; never stored. */
  token?: string;
}

interface LabelScore {
  label: string;
  score: number;
}

const isLabelScore = (value: unknown): value is LabelScore =>
  value !== null &&
  typeof value === "object" &&
  typeof (value as LabelScore).label === "string" &&
  typeof (value as LabelScore).score === "number" &&
  Number.isFinite((value as LabelScore).score);

/**
 * A text-classification model behind HTTP (TEI /predict, HF Inference), seen through the chat
 * backend interface so it takes the harness's one road for model calls (cache, retries,
 * timeouts): the request's user message is the text, the response text is the label scores
 * as JSON, [{"label": ..., "score": ...}].
 */
export class TextClassificationBackend implements ModelBackend {
  readonly cacheable = true;
  constructor(private readonly options: TextClassificationOptions) {}

  id(): string {
    return `classifier:${this.options.model}`;
  }

  identity(): BackendIdentity {
    return { kind: "text-classification", model: this.options.model, baseUrl: publicUrl(this.options.url) };
  }

  async callApi(request: ChatRequest, context: CallContext): Promise<ChatResponse> {
    const last = request.messages[request.messages.length - 1];
    const text =
      typeof last?.content === "string" ? last.content : (last?.content ?? []).map((p) => (p.type === "text" ? p.text : "")).join("");
    let response: Response;
    try {
      response = await keepAliveFetch(this.options.url, {
        method: "POST",
        headers: { "content-type": "application/json", ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
        body: JSON.stringify({ inputs: text }),
        signal: context.signal,
      });
    } catch (error) {
      if (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError"))
        throw new BackendError("timeout", "request aborted (timeout)", { cause: error });
      const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
      throw new BackendError("network", `connection to ${publicUrl(this.options.url)} failed${code ? ` (${code})` : ""}`, { cause: error });
    }
    const body = await response.text();
    if (!response.ok) {
      const retryAfterMs = parseRetryAfter(response.headers);
      throw new BackendError(kindForStatus(response.status), `HTTP ${response.status}: ${serverMessage(body)}`, {
        status: response.status,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new BackendError("bad-response", `the classifier at ${publicUrl(this.options.url)} did not answer JSON: ${body.slice(0, 80)}`);
    }
    // TEI answers [{label, score}] for one input; HF Inference [[{label, score}]].
    const scores = Array.isArray(parsed) && Array.isArray(parsed[0]) ? (parsed[0] as unknown[]) : parsed;
    if (!Array.isArray(scores) || scores.length === 0 || !scores.every(isLabelScore)) {
      throw new BackendError(
        "bad-response",
        `the classifier at ${publicUrl(this.options.url)} did not answer [{"label", "score"}]: ${body.slice(0, 80)}`,
      );
    }
    return { text: JSON.stringify(scores.map((s) => ({ label: s.label, score: s.score }))) };
  }
}
