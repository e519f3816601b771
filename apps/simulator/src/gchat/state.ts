import { randomBytes } from 'node:crypto';
import { SIM_DEFAULTS } from '../defaults.js';

export interface GChatMessage {
  name: string;
  space: string;
  text: string | null;
  cardsV2: unknown[];
  fallbackText: string | null;
  /** `spaces/S/threads/T` */
  thread: string;
  /** the threadKey that created or matched the thread, if any */
  threadKey: string | null;
  createTime: string;
  /** raw request body */
  body: Record<string, unknown>;
}

export interface GChatThread {
  name: string;
  space: string;
  threadKey: string | null;
  messageCount: number;
}

export type GChatFailStatus = 400 | 403 | 404 | 429 | 500 | 503;

export interface GChatFaults {
  /** Queue: the next `count` posts answer `status` with the matching Google error body. */
  fail: Array<{ status: GChatFailStatus; count: number }>;
  latencyMs: number;
  /** Per-space writes per rolling 60 s (default 60). */
  rateLimitPerMinute: number;
}

export function defaultGChatFaults(): GChatFaults {
  return { fail: [], latencyMs: 0, rateLimitPerMinute: 60 };
}

interface SpaceState {
  name: string;
  displayName: string;
  token: string;
  messages: GChatMessage[];
  threads: Map<string, GChatThread>;
  threadKeys: Map<string, string>;
  postTimes: number[];
}

function gid(): string {
  return randomBytes(8).toString('base64url').replace(/[-_]/g, 'x');
}

/** In-process state and control of the fake Google Chat incoming webhooks. */
export class GChatSim {
  faults: GChatFaults = defaultGChatFaults();
  key: string = SIM_DEFAULTS.gchatKey;
  private spaces = new Map<string, SpaceState>();

  constructor() {
    this.reset();
  }

  reset(): void {
    this.faults = defaultGChatFaults();
    this.key = SIM_DEFAULTS.gchatKey;
    this.spaces.clear();
    this.addSpace(SIM_DEFAULTS.gchatSpace, { displayName: 'Sync alerts (sim)' });
  }

  setFaults(partial: Partial<GChatFaults>): GChatFaults {
    this.faults = { ...this.faults, ...partial, fail: (partial.fail ?? this.faults.fail).map((f) => ({ ...f })) };
    return this.faults;
  }

  clearFaults(): GChatFaults {
    this.faults = defaultGChatFaults();
    return this.faults;
  }

  addSpace(space: string, opts: { token?: string; displayName?: string } = {}): void {
    const existing = this.spaces.get(space);
    if (existing) {
      if (opts.token) existing.token = opts.token;
      if (opts.displayName) existing.displayName = opts.displayName;
      return;
    }
    this.spaces.set(space, {
      name: space,
      displayName: opts.displayName ?? space,
      token: opts.token ?? SIM_DEFAULTS.gchatToken,
      messages: [],
      threads: new Map(),
      threadKeys: new Map(),
      postTimes: [],
    });
  }

  removeSpace(space: string): boolean {
    return this.spaces.delete(space);
  }

  spaceNames(): string[] {
    return [...this.spaces.keys()];
  }

  /** @internal used by the routes */
  space(name: string): SpaceState | undefined {
    return this.spaces.get(name);
  }

  /** Rolling 60 s window; true when this post is allowed (and counted). */
  takeQuota(s: SpaceState): boolean {
    const now = Date.now();
    while (s.postTimes.length && (s.postTimes[0] as number) <= now - 60_000) s.postTimes.shift();
    if (s.postTimes.length >= this.faults.rateLimitPerMinute) return false;
    s.postTimes.push(now);
    return true;
  }

  /** Pops one injected failure, if any. */
  nextFailure(): GChatFailStatus | null {
    const f = this.faults.fail[0];
    if (!f) return null;
    f.count--;
    if (f.count <= 0) this.faults.fail.shift();
    return f.status;
  }

  newThread(s: SpaceState, threadKey: string | null): GChatThread {
    const t: GChatThread = { name: `spaces/${s.name}/threads/${gid()}`, space: s.name, threadKey, messageCount: 0 };
    s.threads.set(t.name, t);
    if (threadKey !== null) s.threadKeys.set(threadKey, t.name);
    return t;
  }

  findThreadByKey(s: SpaceState, key: string): GChatThread | undefined {
    const n = s.threadKeys.get(key);
    return n ? s.threads.get(n) : undefined;
  }

  store(s: SpaceState, t: GChatThread, body: Record<string, unknown>, threadKey: string | null): GChatMessage {
    const id = gid();
    const msg: GChatMessage = {
      name: `spaces/${s.name}/messages/${id}.${id}`,
      space: s.name,
      text: typeof body.text === 'string' ? body.text : null,
      cardsV2: Array.isArray(body.cardsV2) ? body.cardsV2 : [],
      fallbackText: typeof body.fallbackText === 'string' ? body.fallbackText : null,
      thread: t.name,
      threadKey,
      createTime: new Date().toISOString(),
      body,
    };
    t.messageCount++;
    s.messages.push(msg);
    return msg;
  }

  spaceDisplayName(space: string): string {
    return this.spaces.get(space)?.displayName ?? space;
  }

  /** Stored messages (all spaces, or one), oldest first. */
  messages(space?: string): GChatMessage[] {
    const list = space
      ? (this.spaces.get(space)?.messages ?? [])
      : [...this.spaces.values()].flatMap((s) => s.messages);
    return list.map((m) => ({ ...m }));
  }

  threads(space?: string): GChatThread[] {
    const ss = space ? [this.spaces.get(space)].filter((s): s is SpaceState => !!s) : [...this.spaces.values()];
    return ss.flatMap((s) => [...s.threads.values()].map((t) => ({ ...t })));
  }

  /** Drops every stored message and thread (spaces and faults stay). */
  clear(): void {
    for (const s of this.spaces.values()) {
      s.messages = [];
      s.threads.clear();
      s.threadKeys.clear();
      s.postTimes = [];
    }
  }
}
