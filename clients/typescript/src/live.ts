/**
 * The live-class client: a class's WebSocket side (docs/live-classes.md, docs/asyncapi.json)
 * on `@azure/web-pubsub-client`.
 *
 * `connect()` negotiates (`POST /api/classes/{classId}/negotiate`, again on every reconnect,
 * since the URL's token is short-lived), opens the reliable connection (which resumes after a
 * dropped socket without losing messages), then loads the state snapshot. From then on it
 * applies messages by `seq`: an old one (`seq` ≤ the last applied) is dropped, a jump of more
 * than one is a gap, healed by loading the snapshot again after a short wait for late ones.
 * Events are typed by message `type`: `live.on("poll.opened", (m) => m.poll.question)`.
 */
import {
  WebPubSubClient,
  WebPubSubJsonReliableProtocol,
  type OnGroupDataMessageArgs,
  type OnServerDataMessageArgs,
} from "@azure/web-pubsub-client";

import type { ClientEvents, ServerMessages } from "./generated/live.js";
import type { LecternClient, Schemas } from "./index.js";

export type { ClientEvents, ServerMessages };
export type ClassState = Schemas["ClassState"];
export type Ack = ServerMessages["ack"];
export type MessageType = Exclude<keyof ServerMessages, "ack">;
export type AnyServerMessage = ServerMessages[keyof ServerMessages];

interface LiveEvents {
  /** A fresh snapshot replaced the local state (after connecting, a gap, or a new connection). */
  state: ClassState;
  /** Messages were missed between `from` and `to`; a snapshot is on its way. */
  gap: { from: number; to: number };
  /** `resumed`: the same connection came back after a dropped socket, nothing missed. */
  connected: { connectionId: string; resumed: boolean };
  disconnected: { message?: string };
  stopped: Record<string, never>;
}

type Handler<T> = (value: T) => void;

export interface LiveClassOptions {
  /** How long to wait for late messages before loading the snapshot on a gap (default 250 ms). */
  gapWaitMs?: number;
  /** How long `send` waits for the server's acknowledgement (default 15 s). */
  ackTimeoutMs?: number;
}

export class LiveClassClosed extends Error {}

export class LiveClass {
  readonly classId: string;
  /** The latest snapshot with every message since applied to `seq` (the lists are the snapshot's). */
  state: ClassState | undefined;
  /** The largest `seq` applied. */
  seq = 0;
  /** Gaps seen (each healed by a snapshot). */
  gaps = 0;

  readonly #api: LecternClient;
  readonly #options: Required<LiveClassOptions>;
  #client: WebPubSubClient | undefined;
  #handlers = new Map<string, Set<Handler<never>>>();
  #acks = new Map<string, { resolve: (ack: Ack) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  #refs = 0;
  #gapTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<void> | undefined;
  #connectionId: string | undefined;

  constructor(api: LecternClient, classId: string, options: LiveClassOptions = {}) {
    this.#api = api;
    this.classId = classId;
    this.#options = { gapWaitMs: options.gapWaitMs ?? 250, ackTimeoutMs: options.ackTimeoutMs ?? 15_000 };
  }

  /** Negotiates, connects and loads the snapshot. */
  async connect(): Promise<void> {
    const client = new WebPubSubClient(
      {
        getClientAccessUrl: async () => {
          const { data } = await this.#api.POST("/api/classes/{classId}/negotiate", {
            params: { path: { classId: this.classId } },
          });
          return data!.url;
        },
      },
      { protocol: WebPubSubJsonReliableProtocol(), autoRejoinGroups: false },
    );
    this.#client = client;
    client.on("group-message", (e: OnGroupDataMessageArgs) => this.#receive(e.message.data));
    client.on("server-message", (e: OnServerDataMessageArgs) => this.#receive(e.message.data));
    client.on("connected", (e) => {
      const resumed = e.connectionId === this.#connectionId;
      const first = this.#connectionId === undefined;
      this.#connectionId = e.connectionId;
      this.#emit("connected", { connectionId: e.connectionId, resumed });
      // A new connection (not the reliable protocol resuming the same one, which replays what
      // it missed) may have missed messages: be whole again.
      if (!first && !resumed) void this.refresh().catch(() => undefined);
    });
    client.on("disconnected", (e) => this.#emit("disconnected", { message: e.message }));
    client.on("stopped", () => {
      this.#emit("stopped", {});
      this.#failAcks(new LiveClassClosed("the connection stopped"));
    });
    await client.start();
    await this.refresh();
  }

  /** Replaces the local state with `GET /api/classes/{classId}/state` and goes on from its `seq`. */
  refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        const { data } = await this.#api.GET("/api/classes/{classId}/state", {
          params: { path: { classId: this.classId } },
        });
        this.state = data!;
        this.seq = Math.max(this.seq, data!.seq);
        this.#emit("state", data!);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    return this.#refreshing;
  }

  /** Calls `handler` for each message of `type` (class messages in `seq` order, old ones dropped). */
  on<K extends keyof ServerMessages>(type: K, handler: Handler<ServerMessages[K]>): () => void;
  on<K extends keyof LiveEvents>(type: K, handler: Handler<LiveEvents[K]>): () => void;
  on(type: string, handler: Handler<never>): () => void {
    let set = this.#handlers.get(type);
    if (!set) this.#handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** The next message of `type` that passes `predicate`. */
  next<K extends keyof ServerMessages>(
    type: K,
    predicate: (m: ServerMessages[K]) => boolean = () => true,
    timeoutMs = 15_000,
  ): Promise<ServerMessages[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${String(type)} message within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(type, (m: ServerMessages[K]) => {
        if (!predicate(m)) return;
        clearTimeout(timer);
        off();
        resolve(m);
      });
    });
  }

  /** Sends a client event and resolves with the server's acknowledgement (`ok`, or why not). */
  async send<K extends keyof ClientEvents>(event: K, data: Omit<ClientEvents[K], "ref">): Promise<Ack> {
    if (!this.#client) throw new LiveClassClosed("not connected");
    const ref = `r${++this.#refs}-${Date.now().toString(36)}`;
    const acked = new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#acks.delete(ref);
        reject(new Error(`no acknowledgement of ${String(event)} within ${this.#options.ackTimeoutMs} ms`));
      }, this.#options.ackTimeoutMs);
      this.#acks.set(ref, { resolve, reject, timer });
    });
    await this.#client.sendEvent(String(event), { ...data, ref } as Record<string, unknown>, "json");
    return acked;
  }

  /** The underlying Web PubSub client, for what this class does not wrap. */
  get transport(): WebPubSubClient | undefined {
    return this.#client;
  }

  /** Closes the connection for good. */
  async stop(): Promise<void> {
    clearTimeout(this.#gapTimer);
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      const stopped = new Promise<void>((resolve) => client.on("stopped", () => resolve()));
      client.stop();
      await stopped;
    }
  }

  #receive(raw: unknown): void {
    if (typeof raw !== "object" || raw === null || !("type" in raw)) return;
    const message = raw as AnyServerMessage;
    if (message.type === "ack") {
      const ack = message as Ack;
      const pending = ack.ref ? this.#acks.get(ack.ref) : undefined;
      if (pending) {
        this.#acks.delete(ack.ref!);
        clearTimeout(pending.timer);
        pending.resolve(ack);
      }
      return;
    }
    if ("seq" in message && typeof message.seq === "number") {
      if (message.seq <= this.seq) return; // old news: the snapshot or an earlier message had it
      if (this.seq > 0 && message.seq > this.seq + 1) this.#gap(this.seq, message.seq);
      this.seq = message.seq;
    }
    this.#emit(message.type, message);
  }

  #gap(from: number, to: number): void {
    this.gaps++;
    this.#emit("gap", { from, to });
    clearTimeout(this.#gapTimer);
    this.#gapTimer = setTimeout(() => void this.refresh().catch(() => undefined), this.#options.gapWaitMs);
  }

  #emit(type: string, value: unknown): void {
    for (const handler of this.#handlers.get(type) ?? []) (handler as Handler<unknown>)(value);
  }

  #failAcks(error: Error): void {
    for (const [ref, pending] of this.#acks) {
      clearTimeout(pending.timer);
      pending.reject(error);
      this.#acks.delete(ref);
    }
  }
}

/** Joins a class: `const live = await joinClass(api, classId); live.on("chat.message", ...)`. */
export async function joinClass(api: LecternClient, classId: string, options?: LiveClassOptions): Promise<LiveClass> {
  const live = new LiveClass(api, classId, options);
  await live.connect();
  return live;
}
