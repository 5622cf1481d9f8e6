import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the OpenAI chat completions endpoint that plays both agents
 * deterministically, so the real `openai` SDK can be driven through normal answers and injected
 * failures. Listens on 127.0.0.1 only, on a free port.
 *
 * Its "model": agent 1 returns fixed claims per organ, two of which are wrong (marked
 * inconsistent by agent 2) and one doubtful (low confidence); agent 2 composes the final texts by
 * joining the claims it is sent, so a dropped claim that still reached the text would show.
 */
export type Fault = '401' | '403' | '429' | '500' | 'malformed' | 'timeout';

export interface SeenRequest {
  schema: string;
  organ: string;
  /** position | shape for agent-1 requests, '' otherwise. */
  kind: string;
  messages: number;
  authorization: string;
  images: number;
}

interface Injection {
  match: (r: SeenRequest) => boolean;
  fault: Fault;
  remaining: number;
}

export const WRONG_CLAIMS = ['lies outside the body wall', 'is made of cheese'];
export const DOUBTFUL_CLAIM = 'probably touches the moon';

function claimsFor(organ: string, kind: string): string[] {
  return kind === 'position'
    ? [`The ${organ} lies inside the abdominal cavity.`, `The ${organ} has neighbouring organs on several sides.`, `The ${organ} ${WRONG_CLAIMS[0]}.`, `The ${organ} ${DOUBTFUL_CLAIM}.`]
    : [`The ${organ} has a characteristic outline on CT.`, `The ${organ} varies in size between patients.`, `The ${organ} ${WRONG_CLAIMS[1]}.`];
}

function verdictFor(statement: string): { verdict: string; confidence: number } {
  if (WRONG_CLAIMS.some((w) => statement.includes(w))) return { verdict: 'inconsistent', confidence: 0.95 };
  if (statement.includes(DOUBTFUL_CLAIM)) return { verdict: 'uncertain', confidence: 0.2 };
  return { verdict: 'consistent', confidence: 0.9 };
}

const jsonAfter = (text: string, label: string): unknown => JSON.parse(text.split('\n').find((l) => l.startsWith(label))!.slice(label.length));

export class StandInOpenAI {
  readonly requests: SeenRequest[] = [];
  private readonly injections: Injection[] = [];
  private readonly held: ServerResponse[] = [];

  private constructor(private readonly server: Server, private readonly apiKey: string) {}

  static async start(apiKey: string): Promise<StandInOpenAI> {
    let self: StandInOpenAI | undefined;
    const server = createServer((req, res) => void self!.handle(req, res));
    self = new StandInOpenAI(server, apiKey);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get baseURL(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/v1`;
  }

  /** The next `times` requests that `match` get `fault` instead of an answer. */
  inject(match: (r: SeenRequest) => boolean, fault: Fault, times = 1): void {
    this.injections.push({ match, fault, remaining: times });
  }

  clearInjections(): void {
    this.injections.length = 0;
  }

  async close(): Promise<void> {
    for (const res of this.held) res.destroy();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const user = body.messages[1].content;
    const userText: string = typeof user === 'string' ? user : user[0].text;
    const schema: string = body.response_format.json_schema.name;
    const organ = /^Organ: (.+)$/m.exec(userText)![1]!;
    const kind = schema === 'organ_claims' ? (userText.includes('positional relationship') ? 'position' : 'shape') : '';
    const seen: SeenRequest = {
      schema, organ, kind,
      messages: body.messages.length,
      authorization: String(req.headers.authorization ?? ''),
      images: typeof user === 'string' ? 0 : user.filter((p: { type: string }) => p.type === 'image_url').length,
    };
    this.requests.push(seen);

    if (seen.authorization !== `Bearer ${this.apiKey}`) return this.fail(res, 401, `Incorrect API key provided: ${seen.authorization.replace('Bearer ', '')}.`);
    const injection = this.injections.find((i) => i.remaining > 0 && i.match(seen));
    if (injection) {
      injection.remaining -= 1;
      switch (injection.fault) {
        case '401': return this.fail(res, 401, 'Incorrect API key provided.');
        // Echoes the key, as real error bodies may (partly masked) do: the client must redact it.
        case '403': return this.fail(res, 403, `Project of key ${this.apiKey} may not use this model.`);
        case '429': return this.fail(res, 429, 'Rate limit reached for requests.');
        case '500': return this.fail(res, 500, 'The server had an error while processing your request.');
        case 'timeout': this.held.push(res); return; // never answers; the client's timeout fires
        case 'malformed': return this.answer(res, '{"claims": ["The organ', body.model);
      }
    }
    this.answer(res, JSON.stringify(this.play(schema, organ, kind, userText)), body.model);
  }

  private play(schema: string, organ: string, kind: string, userText: string): unknown {
    if (schema === 'organ_claims') return { claims: claimsFor(organ, kind) };
    if (schema === 'claim_verdicts') {
      const claims = jsonAfter(userText, 'Claims (JSON): ') as { id: string; statement: string }[];
      return { verdicts: claims.map((c) => ({ claim: c.id, ...verdictFor(c.statement), reason: 'stand-in judgement' })) };
    }
    const position = jsonAfter(userText, 'Position claims (JSON): ') as string[];
    const shape = jsonAfter(userText, 'Shape claims (JSON): ') as string[];
    return { position: position.join(' '), shape: shape.join(' ') };
  }

  private answer(res: ServerResponse, content: string, model: string): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: `chatcmpl-${this.requests.length}`, object: 'chat.completion', created: 1_700_000_000, model,
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
    }));
  }

  private fail(res: ServerResponse, status: number, message: string): void {
    // retry-after-ms keeps the SDK's backoff short in tests (it honours the header).
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after-ms': '5' });
    res.end(JSON.stringify({ error: { message, type: 'stand_in_error', param: null, code: String(status) } }));
  }
}
