import { InferenceClient, InferenceClientProviderApiError, InferenceClientHubApiError, InferenceClientError } from "@huggingface/inference";
import {
  BackendError,
  DEFAULT_KEY_VARIABLE,
  kindForStatus,
  type BackendIdentity,
  type CallContext,
  type ChatRequest,
  type ChatResponse,
  type EmbeddingBackend,
  type ModelBackend,
  serverMessage,
} from "./types.ts";
import { errorMessage, HarnessError } from "../util/errors.ts";
import { publicUrl } from "../util/redact.ts";
import { chatResponseFromBody, pooledVectors } from "./answer.ts";

export interface HuggingFaceBackendOptions {
  model: string;
  /** A dedicated Inference Endpoint (or any TGI / OpenAI-compatible URL); otherwise Inference Providers route. */
  endpointUrl?: string;
  /** Inference Providers' provider name ("auto" lets the Hub choose). */
  provider?: string;
  /** HF_TOKEN, read by the caller from the environment. */
  token?: string;
  /** The variable the token was read from, for messages (default HF_TOKEN). */
  tokenVariable?: string;
  /** The Hub the preflight asks about the model (default $HF_ENDPOINT or https://huggingface.co). */
  hubUrl?: string;
}

export const HF_HUB_URL = "https://huggingface.co";

export function classifyHuggingFaceError(error: unknown): BackendError {
  if (error instanceof BackendError) return error;
  if (error instanceof InferenceClientProviderApiError || error instanceof InferenceClientHubApiError) {
    const status = error.httpResponse.status;
    return new BackendError(kindForStatus(status), `HTTP ${status}: ${error.message}`, { status, cause: error });
  }
  if (error instanceof Error && (error.name === "AbortError" || error.name === "TimeoutError")) {
    return new BackendError("timeout", "request aborted (timeout)", { cause: error });
  }
  if (error instanceof InferenceClientError) return new BackendError("bad-request", error.message, { cause: error });
  if (error instanceof TypeError) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return new BackendError("network", `connection failed${code ? ` (${code})` : ""}: ${error.message}`, { cause: error });
  }
  return new BackendError("other", error instanceof Error ? error.message : String(error), { cause: error });
}

/** `hf:<model>` through @huggingface/inference. */
export class HuggingFaceBackend implements ModelBackend {
  readonly cacheable = true;
  private readonly client: InferenceClient;

  constructor(private readonly options: HuggingFaceBackendOptions) {
    this.client = new InferenceClient(options.token, { retry_on_error: false });
  }

  id(): string {
    return `hf:${this.options.model}`;
  }

  identity(): BackendIdentity {
    return {
      kind: "hf",
      model: this.options.model,
      ...(this.options.endpointUrl ? { baseUrl: publicUrl(this.options.endpointUrl) } : {}),
      ...(this.options.provider ? { provider: this.options.provider } : {}),
    };
  }

  /**
   * Before any question: a missing token names HF_TOKEN; a rejected token, an unknown model or an
   * unreachable Hub / endpoint is one line instead of every question failing alike.
   */
  async preflight(signal: AbortSignal): Promise<void> {
    const variable = this.options.tokenVariable ?? DEFAULT_KEY_VARIABLE.hf;
    const { endpointUrl, token } = this.options;
    if (!token && !endpointUrl) {
      throw new HarnessError(
        `${this.id()} needs a Hugging Face token: set ${variable}${variable === DEFAULT_KEY_VARIABLE.hf ? " (or name another variable with --api-key-env)" : ""}, or give --base-url for your own endpoint`,
      );
    }
    const url = endpointUrl ?? `${(this.options.hubUrl ?? HF_HUB_URL).replace(/\/+$/, "")}/api/models/${this.options.model}`;
    const where = endpointUrl ? `the endpoint ${publicUrl(endpointUrl)}` : `the Hugging Face Hub (${new URL(url).origin})`;
    let response: Response;
    try {
      response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      throw new HarnessError(
        `cannot reach ${where}: ${code ?? errorMessage(error)}${endpointUrl ? "; check --base-url and that the endpoint is running" : ""}`,
      );
    }
    const body = response.ok ? "" : serverMessage(await response.text().catch(() => ""));
    if (response.status === 401 || response.status === 403) {
      throw new HarnessError(
        `${where} rejected the token in ${variable} (HTTP ${response.status}: ${body}); set ${variable} to a valid token with access to ${this.options.model}`,
      );
    }
    if (response.status === 404 && !endpointUrl)
      throw new HarnessError(`${this.id()}: no such model on the Hugging Face Hub (HTTP 404: ${body})`);
  }

  async callApi(request: ChatRequest, context: CallContext): Promise<ChatResponse> {
    const wantLogprobs = request.topLogprobs !== undefined && request.topLogprobs > 0;
    try {
      const output = await this.client.chatCompletion(
        {
          model: this.options.model,
          ...(this.options.endpointUrl ? { endpointUrl: this.options.endpointUrl } : {}),
          ...(this.options.provider && !this.options.endpointUrl ? { provider: this.options.provider as "auto" } : {}),
          messages: request.messages.map((m) => ({ role: m.role, content: m.content })),
          max_tokens: request.maxTokens,
          temperature: request.temperature,
          ...(request.topP === undefined ? {} : { top_p: request.topP }),
          ...(wantLogprobs ? { logprobs: true, top_logprobs: request.topLogprobs } : {}),
        },
        { signal: context.signal, retry_on_error: false },
      );
      return chatResponseFromBody(output as unknown);
    } catch (error) {
      throw classifyHuggingFaceError(error);
    }
  }
}

/** Feature extraction through @huggingface/inference, for difficulty approximation. */
export class HuggingFaceEmbeddingBackend implements EmbeddingBackend {
  private readonly client: InferenceClient;
  constructor(private readonly options: HuggingFaceBackendOptions) {
    this.client = new InferenceClient(options.token, { retry_on_error: false });
  }

  id(): string {
    return `hf:${this.options.model}`;
  }

  identity(): BackendIdentity {
    return {
      kind: "hf-embeddings",
      model: this.options.model,
      ...(this.options.endpointUrl ? { baseUrl: publicUrl(this.options.endpointUrl) } : {}),
    };
  }

  async embed(texts: readonly string[], context: CallContext): Promise<number[][]> {
    try {
      const output = await this.client.featureExtraction(
        {
          model: this.options.model,
          ...(this.options.endpointUrl ? { endpointUrl: this.options.endpointUrl } : {}),
          inputs: [...texts],
        },
        { signal: context.signal, retry_on_error: false },
      );
      return pooledVectors(output as unknown, texts.length);
    } catch (error) {
      throw classifyHuggingFaceError(error);
    }
  }
}
