import OpenAI from 'openai';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { TakError } from '../../util/errors.js';
import { AnswerProblem, type JsonSchemaFormat } from './schemas.js';

export interface Usage {
  calls: number;
  promptTokens: number;
  completionTokens: number;
}

export const emptyUsage = (): Usage => ({ calls: 0, promptTokens: 0, completionTokens: 0 });

export function addUsage(into: Usage, more: Usage): void {
  into.calls += more.calls;
  into.promptTokens += more.promptTokens;
  into.completionTokens += more.completionTokens;
}

export interface ClientSettings {
  apiKey: string;
  baseURL?: string;
  model: string;
  /** SDK retries on 408/409/429/5xx, connection errors and timeouts, with exponential backoff + jitter. */
  maxRetries: number;
  timeoutMs: number;
  /** Re-asks after an answer that is not valid JSON or does not fit the schema. */
  formatRetries: number;
  log: (line: string) => void;
}

/**
 * The OpenAI SDK client plus what the generator needs around it: structured-output calls that
 * are parsed and re-asked when malformed, token usage, and errors turned into TakErrors that
 * never contain the API key.
 */
export class AgentClient {
  readonly usage = emptyUsage();
  private readonly openai: OpenAI;

  constructor(private readonly settings: ClientSettings) {
    const log = settings.log;
    this.openai = new OpenAI({
      apiKey: settings.apiKey,
      baseURL: settings.baseURL,
      maxRetries: settings.maxRetries,
      timeout: settings.timeoutMs,
      // Only the SDK's retry notices reach the user; 'info' never includes headers (debug would).
      logLevel: 'info',
      logger: {
        error: () => {},
        warn: () => {},
        debug: () => {},
        info: (message: string) => {
          if (/retrying|no more retries/.test(message)) log(`  openai: ${this.redact(message.replace(/^\[log_[0-9a-f]+[^\]]*\]\s*/, ''))}`);
        },
      },
    });
  }

  /**
   * One structured-output exchange. An answer that is not JSON or fails `parse` is shown back to
   * the model with the problem, up to `formatRetries` times, then a TakError names `what`.
   */
  async askJson<T>(what: string, system: string, user: string | ChatCompletionContentPart[], format: JsonSchemaFormat, parse: (value: unknown) => T): Promise<T> {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ];
    for (let attempt = 0; ; attempt++) {
      const content = await this.complete(what, messages, format);
      let problem: string;
      try {
        return parse(JSON.parse(content) as unknown);
      } catch (error) {
        if (!(error instanceof SyntaxError) && !(error instanceof AnswerProblem)) throw error;
        problem = error instanceof SyntaxError ? `it is not valid JSON (${error.message})` : error.message;
      }
      if (attempt >= this.settings.formatRetries) {
        throw new TakError(`${what}: the model's answer was unusable ${attempt + 1} time(s), last because ${problem}; re-run (finished classes are kept) or try another --model`);
      }
      this.settings.log(`  ${what}: answer unusable (${problem}); asking again`);
      messages.push({ role: 'assistant', content }, { role: 'user', content: `Your answer was unusable: ${problem}. Answer again, following the JSON schema exactly.` });
    }
  }

  private async complete(what: string, messages: ChatCompletionMessageParam[], format: JsonSchemaFormat): Promise<string> {
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    try {
      completion = await this.openai.chat.completions.create({
        model: this.settings.model,
        messages,
        response_format: { type: 'json_schema', json_schema: { name: format.name, schema: format.schema, strict: true } },
      });
    } catch (error) {
      throw this.explain(what, error);
    }
    this.usage.calls += 1;
    this.usage.promptTokens += completion.usage?.prompt_tokens ?? 0;
    this.usage.completionTokens += completion.usage?.completion_tokens ?? 0;
    const message = completion.choices[0]?.message;
    if (message?.refusal) throw new TakError(`${what}: the model refused (${this.redact(message.refusal)}); try another --model`);
    return message?.content ?? '';
  }

  /** A TakError for an SDK failure, saying what to do; the key is redacted from any server text. */
  private explain(what: string, error: unknown): TakError {
    const where = this.openai.baseURL;
    const detail = this.redact(error instanceof Error ? error.message : String(error));
    const resume = 'finished classes are kept: re-run the same command to resume';
    let message: string;
    if (error instanceof OpenAI.AuthenticationError) {
      message = `authentication failed at ${where} (401): the key in OPENAI_API_KEY was rejected; set a valid key (it is never printed)`;
    } else if (error instanceof OpenAI.PermissionDeniedError) {
      message = `permission denied at ${where} (403: ${detail}); use a key whose project may call --model ${this.settings.model}`;
    } else if (error instanceof OpenAI.NotFoundError) {
      message = `not found at ${where} (404: ${detail}); check --model ${this.settings.model} and --base-url`;
    } else if (error instanceof OpenAI.RateLimitError) {
      message = `still rate-limited (429) after ${this.settings.maxRetries} retries with backoff (${detail}); wait, then re-run (${resume}), or raise --max-retries`;
    } else if (error instanceof OpenAI.InternalServerError) {
      message = `server error at ${where} after ${this.settings.maxRetries} retries (${detail}); ${resume}`;
    } else if (error instanceof OpenAI.APIConnectionTimeoutError) {
      message = `no answer within ${this.settings.timeoutMs} ms after ${this.settings.maxRetries} retries; raise --timeout or re-run (${resume})`;
    } else if (error instanceof OpenAI.APIConnectionError) {
      message = `cannot reach ${where} (${detail}); check --base-url and the network, then re-run (${resume})`;
    } else if (error instanceof OpenAI.APIError) {
      message = `the API at ${where} answered ${error.status ?? 'an error'} (${detail}); check --model and --base-url`;
    } else {
      return error instanceof TakError ? error : new TakError(`${what}: ${detail}`, { cause: error });
    }
    return new TakError(`${what}: ${message}`);
  }

  /** Removes the key, and anything shaped like an OpenAI key, from text shown to the user. */
  redact(text: string): string {
    const key = this.settings.apiKey;
    const withoutKey = key.length >= 4 ? text.split(key).join('[redacted]') : text;
    return withoutKey.replace(/sk-[A-Za-z0-9*_\-]{4,}/g, 'sk-[redacted]');
  }
}
