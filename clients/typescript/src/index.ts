/**
 * The typed HTTP client of the Lectern API.
 *
 * Types come from docs/openapi.json (generated into ./generated/openapi.ts); the client is
 * openapi-fetch with what every frontend would otherwise write by hand: the bearer token,
 * an `Idempotency-Key` on every write that accepts one (kept across retries, so a retried
 * write happens once), retries after `Retry-After` on 429 and 503, and problem+json errors
 * thrown as `LecternProblem`.
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";

import type { components, paths } from "./generated/openapi.js";
import { IDEMPOTENT_OPERATIONS } from "./generated/operations.js";

export type { components, paths };
export type Schemas = components["schemas"];
export type ProblemBody = Schemas["Problem"];
export type ProblemTypeUri = Schemas["ProblemType"];
export type LecternClient = Client<paths>;

export const PROBLEM_TYPE_BASE = "https://lectern.dev/problems/";

/** An error answer of the API (`application/problem+json`), typed. */
export class LecternProblem extends Error {
  readonly status: number;
  readonly type: ProblemTypeUri;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: { field: string; message: string }[];
  /** Seconds, from the `Retry-After` header (429 and 503). */
  readonly retryAfter: number | undefined;
  readonly correlationId: string | undefined;
  readonly body: ProblemBody;

  constructor(body: ProblemBody, retryAfter?: number) {
    super(body.detail ? `${body.title}: ${body.detail}` : body.title);
    this.name = "LecternProblem";
    this.body = body;
    this.status = body.status;
    this.type = body.type;
    this.title = body.title;
    this.detail = body.detail;
    this.errors = body.errors ?? [];
    this.retryAfter = retryAfter;
    this.correlationId = body.correlationId;
  }

  /** `problem.is("rate-limited")`: compares the type without its URI base. */
  is(slug: string): boolean {
    return this.type === PROBLEM_TYPE_BASE + slug || this.type === slug;
  }
}

export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

export interface ClientOptions {
  /** The API's origin, e.g. `http://127.0.0.1:7071` (paths carry `/api`). */
  baseUrl: string;
  /** A bearer token, or a function returning the current one (called per request). */
  token?: TokenSource;
  /** Attempts after the first on 429/503 (default 3). */
  retries?: number;
  /** Never wait longer than this for one retry (default 30 s). */
  maxRetryDelayMs?: number;
  fetch?: typeof globalThis.fetch;
  /** Makes the `Idempotency-Key` of a write (default: a random UUID). */
  idempotencyKey?: () => string;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** Seconds to wait from a `Retry-After` header (seconds or an HTTP date); `undefined` if absent. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A fetch that retries 429 (refused before any work, so any request) and 503 (only requests
 * that are safe to repeat: reads, PUT/DELETE, and writes carrying an `Idempotency-Key`),
 * waiting what `Retry-After` says.
 */
function retryingFetch(base: typeof globalThis.fetch, retries: number, maxDelayMs: number): typeof globalThis.fetch {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    for (let attempt = 0; ; attempt++) {
      const response = await base(request.clone());
      const repeatable =
        response.status === 429 ||
        (response.status === 503 && (SAFE_METHODS.has(request.method) || request.headers.has("Idempotency-Key")));
      if (!repeatable || attempt >= retries) return response;
      const wait = retryAfterSeconds(response.headers.get("Retry-After")) ?? 2 ** attempt;
      await response.body?.cancel();
      await sleep(Math.min(wait * 1000, maxDelayMs));
    }
  };
}

function middleware(options: ClientOptions): Middleware {
  const newKey = options.idempotencyKey ?? (() => globalThis.crypto.randomUUID());
  return {
    async onRequest({ request, schemaPath }) {
      const token = typeof options.token === "function" ? await options.token() : options.token;
      if (token && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${token}`);
      if (IDEMPOTENT_OPERATIONS.has(`${request.method} ${schemaPath}`) && !request.headers.has("Idempotency-Key")) {
        request.headers.set("Idempotency-Key", newKey());
      }
      return request;
    },
    async onResponse({ response }) {
      if (response.ok) return response;
      const type = response.headers.get("Content-Type") ?? "";
      if (type.startsWith("application/problem+json")) {
        const body = (await response.clone().json()) as ProblemBody;
        throw new LecternProblem(body, retryAfterSeconds(response.headers.get("Retry-After")));
      }
      return response;
    },
  };
}

/**
 * The typed client: `await api.GET("/api/courses/{courseId}", { params: { path: { courseId } } })`.
 * Error answers throw `LecternProblem`, so `data` is the success body.
 */
export function createLecternClient(options: ClientOptions): LecternClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    fetch: retryingFetch(options.fetch ?? globalThis.fetch, options.retries ?? 3, options.maxRetryDelayMs ?? 30_000),
  });
  client.use(middleware(options));
  return client;
}

export { IDEMPOTENT_OPERATIONS };
