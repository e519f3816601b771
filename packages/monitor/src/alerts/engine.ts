import { withTimeout } from '@pcs/errors';
import { isServiceUnreachable } from '@pcs/db';
import type { Logger } from '@pcs/logger';
import type { Alert } from '@pcs/notify/alert';
import { decide, silencedRecord, type AlertRecord, type Condition, type Decision } from './decide.js';
import type { AlertStore, OutboxChannel } from './store.js';

export interface AlertEngineOptions {
  /** Where state lives (MySQL). */
  primary: AlertStore;
  /** Where state lives while the primary is unreachable (Redis for workers, memory for the watchdog). */
  fallback?: AlertStore;
  /** Which relay delivers this engine's messages (see OutboxChannel). */
  channel: OutboxChannel;
  repeatHours: number;
  /** The engine's clock (tests give a fake one). */
  clock?: () => Date;
  log?: Pick<Logger, 'warn' | 'info'>;
  /** Told when a message was committed, so the relay can move it at once. */
  onQueued?: () => void;
}

export interface ObserveOptions {
  /** When the observer saw it (a check's start, a run's end); the engine's now by default. */
  observedAt?: Date;
  /** `fallback`: this condition is about the primary store itself (the database alert). */
  store?: 'primary' | 'fallback';
}

/** How long the primary's path waits for what the fallback kept before it goes on without it. */
const FALLBACK_PEEK_MS = 300;
/** After a peek failed, how long the primary's path does not ask the fallback again. */
const FALLBACK_REST_MS = 5_000;

const newer = (a: AlertRecord | undefined, b: AlertRecord | undefined) =>
  !a ? b : !b ? a : a.updatedAt >= b.updatedAt ? a : b;

/**
 * The store cannot be used (away, refusing the credentials, its tables missing: a dashboard in
 * front of a database nobody migrated yet); not a refused statement: that is a bug, and a
 * fallback would only hide it.
 */
const away = isServiceUnreachable;

/**
 * The one place where alerts are decided: fire, repeat, resolve, silence, inhibit (decide.ts),
 * for workers, checks, runs, the CLI and the dashboard watchdog alike. Each evaluation holds its
 * fingerprint exclusively (a row lock, or a Redis lock while MySQL is away), so one incident is one
 * firing and one resolved message however many processes see it at once; and it commits the
 * message with the state (an outbox), which a relay then hands to the notifications queue, again
 * and again while Redis is away, so no alert is marked sent and then lost.
 */
export class AlertEngine {
  private readonly clock: () => Date;
  /** The last state this process saw in the primary store, per fingerprint: the fallback starts from it. */
  private readonly lastPrimary = new Map<string, AlertRecord>();
  /** Until when the fallback is left alone on the primary's path (it was away or slow). */
  private fallbackRestUntil = 0;

  constructor(private readonly opts: AlertEngineOptions) {
    this.clock = opts.clock ?? (() => new Date());
  }

  now(): Date {
    return this.clock();
  }

  /** Evaluates one fingerprint: `condition` present = it holds now, `null` = it is fine now. */
  async observe(fingerprint: string, condition: Condition | null, opts: ObserveOptions = {}): Promise<Decision> {
    const { primary, fallback } = this.opts;
    const observedAt = opts.observedAt ?? this.clock();
    if (opts.store === 'fallback' && fallback) return this.evaluateIn(fallback, fingerprint, condition, observedAt);
    try {
      return await this.evaluateIn(primary, fingerprint, condition, observedAt);
    } catch (err) {
      if (!fallback || !away(err)) throw err;
      this.opts.log?.warn(
        { err, fingerprint, store: fallback.name },
        `alert state kept in ${fallback.name} while ${primary.name} is unreachable`,
      );
      return this.evaluateIn(fallback, fingerprint, condition, observedAt);
    }
  }

  /**
   * A check's or a script's verdict: every condition given fires; every other firing alert of
   * `group` (the fingerprint `group` and those under `group:`) is resolved.
   */
  async observeGroup(group: string, conditions: Condition[], observedAt = this.clock()): Promise<Decision[]> {
    const decisions: Decision[] = [];
    for (const c of conditions) decisions.push(await this.observe(c.fingerprint, c, { observedAt }));
    const firingNow = new Set(conditions.map((c) => c.fingerprint));
    for (const a of await this.firing({ prefix: group }))
      if (!firingNow.has(a.fingerprint)) decisions.push(await this.observe(a.fingerprint, null, { observedAt }));
    return decisions;
  }

  /**
   * What the fallback kept for a fingerprint, asked briefly: while Redis is away too, an alert
   * decided in MySQL must not wait on it (a producer connection rejects only after a reconnect
   * attempt, seconds, and an evaluation asks once per fingerprint).
   */
  private async peekFallback(fingerprint: string): Promise<AlertRecord | undefined> {
    const { fallback } = this.opts;
    if (!fallback || Date.now() < this.fallbackRestUntil) return undefined;
    try {
      return await withTimeout(
        fallback.get(fingerprint),
        FALLBACK_PEEK_MS,
        () => new Error(`${fallback.name} did not answer`),
      );
    } catch {
      this.fallbackRestUntil = Date.now() + FALLBACK_REST_MS;
      return undefined;
    }
  }

  private async evaluateIn(
    store: AlertStore,
    fingerprint: string,
    condition: Condition | null,
    observedAt: Date,
  ): Promise<Decision> {
    const { fallback, primary } = this.opts;
    const inhibited = condition?.inhibitedBy?.length
      ? (await store.firing({ fingerprints: condition.inhibitedBy })).length > 0
      : false;
    // State the fallback kept while the primary was away comes back into the primary; the
    // fallback starts from what this process last saw in the primary.
    const inPrimary = store === primary;
    const kept = inPrimary ? await this.peekFallback(fingerprint) : this.lastPrimary.get(fingerprint);
    let seen: AlertRecord | undefined;
    const d = await store.transact(
      fingerprint,
      condition !== null || kept !== undefined,
      (prev) =>
        decide((seen = newer(prev, kept)), {
          fingerprint,
          condition,
          observedAt,
          now: this.clock(),
          repeatMs: this.opts.repeatHours * 3_600_000,
          inhibited,
        }),
      this.opts.channel,
    );
    if (inPrimary) {
      const state = d.next ?? seen;
      if (state) this.lastPrimary.set(fingerprint, state);
      if (kept) await fallback!.remove(fingerprint).catch(() => undefined);
    }
    if (d.notify) this.opts.onQueued?.();
    return d;
  }

  /** Firing alerts of both stores (the primary's when a fingerprint is in both). */
  async firing(selector?: Parameters<AlertStore['firing']>[0]): Promise<AlertRecord[]> {
    const { primary, fallback } = this.opts;
    const fromFallback = fallback ? await fallback.firing(selector).catch(() => []) : [];
    let fromPrimary: AlertRecord[] = [];
    try {
      fromPrimary = await primary.firing(selector);
    } catch (err) {
      if (!fallback || !away(err)) throw err;
    }
    const seen = new Set(fromPrimary.map((a) => a.fingerprint));
    return [...fromPrimary, ...fromFallback.filter((a) => !seen.has(a.fingerprint))];
  }

  /** Every record of the primary store (firing, resolved, silenced). */
  list(): Promise<AlertRecord[]> {
    return this.opts.primary.list();
  }

  /** Silences a fingerprint until `until` (like `amtool silence add`); it need not be firing yet. */
  async silence(fingerprint: string, until: Date, reason = 'silenced from the CLI'): Promise<void> {
    await this.opts.primary.transact(
      fingerprint,
      true,
      (prev) => {
        const now = this.clock();
        const next = prev
          ? { ...prev, silencedUntil: until, silenceReason: reason, updatedAt: now }
          : silencedRecord(fingerprint, until, reason, now);
        return { next, state: next.state };
      },
      this.opts.channel,
    );
  }

  /** Ends a silence now; false when the fingerprint is unknown. */
  async unsilence(fingerprint: string): Promise<boolean> {
    const d = await this.opts.primary.transact(
      fingerprint,
      false,
      (prev) =>
        prev
          ? { next: { ...prev, silencedUntil: null, silenceReason: null, updatedAt: this.clock() }, state: prev.state }
          : { state: 'ok' },
      this.opts.channel,
    );
    return Boolean(d.next);
  }

  /**
   * Hands the committed messages of this engine's channel to `send` (the notifications queue, or
   * Google Chat for the watchdog), oldest first, and marks each one relayed after `send` took it.
   * `send` must be idempotent on `id` (a crash between the two sends it again). A store or `send`
   * that fails stops this round: the next round tries again.
   */
  async relay(send: (alert: Alert, id: string) => Promise<void>, limit = 50): Promise<number> {
    // The queue takes a job id (relaying twice queues once): send, then mark. A direct post has no
    // such key: the entry is claimed first (one relay posts it however many try), and released
    // when the post fails, so the next round posts it again.
    const claimFirst = this.opts.channel === 'direct';
    let n = 0;
    for (const store of [this.opts.primary, this.opts.fallback]) {
      if (!store) continue;
      let entries;
      try {
        entries = await store.pending(this.opts.channel, limit);
      } catch (err) {
        if (away(err)) continue;
        throw err;
      }
      for (const e of entries) {
        if (claimFirst && !(await store.claim(e.id))) continue;
        try {
          await send(e.alert, `${store.name}-${e.id}`);
        } catch (err) {
          if (claimFirst) await store.release(e.id).catch(() => undefined);
          throw err;
        }
        if (!claimFirst) await store.relayed(e.id);
        n += 1;
      }
    }
    return n;
  }
}
