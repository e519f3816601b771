import type { AlertState } from '@pcs/db';
import { alertTimestamp, type Alert } from '@pcs/notify/alert';

/**
 * The alert rules, as Alertmanager models them, for one fingerprint: ok → firing (notify) → still
 * firing (notify again at most every ALERT_REPEAT_HOURS) → resolved (notify, in the firing
 * message's thread: both carry the fingerprint as the thread key). A silenced fingerprint notifies
 * nothing until the silence ends; a condition inhibited by a firing alert (an API down explains
 * stale records) notifies nothing on its own; an observation older than the last change of state
 * (a check that started before the fix and ended after it) changes nothing. Pure: the engine
 * (engine.ts) runs it under a per-fingerprint lock and commits its result with the message.
 */

export interface Condition {
  fingerprint: string;
  script: Alert['script'];
  level: Alert['level'];
  errorType: string;
  message: string;
  details?: Record<string, unknown>;
  /** Fingerprints whose firing makes this condition a consequence, not news. */
  inhibitedBy?: string[];
}

/** The state of one fingerprint, as every store keeps it (the `alert_states` row's shape). */
export type AlertRecord = AlertState;

export type Quiet = 'silenced' | 'inhibited' | 'repeat-window' | 'ok' | 'stale';

export interface Decision {
  /** The new state to store; undefined: nothing changes. */
  next?: AlertRecord;
  /** The message this change owes (committed with the state, relayed afterwards). */
  notify?: Alert;
  /** Why nothing is sent, when nothing is. */
  quiet?: Quiet;
  state: AlertRecord['state'];
}

export interface DecideInput {
  fingerprint: string;
  /** Present: the condition holds now; null: it is fine now. */
  condition: Condition | null;
  /** When the observer saw it (a check's start, a run's end): firing and resolution are stamped with it. */
  observedAt: Date;
  now: Date;
  repeatMs: number;
  /** One of the condition's inhibitors is firing. */
  inhibited: boolean;
}

function toAlert(
  s: Pick<AlertRecord, 'fingerprint' | 'script' | 'level' | 'errorType' | 'message' | 'details'>,
  state: Alert['state'],
  now: Date,
): Alert {
  return {
    timestamp: alertTimestamp(now),
    script: s.script as Alert['script'],
    level: s.level as Alert['level'],
    error_type: s.errorType,
    message: s.message,
    details: s.details ?? {},
    fingerprint: s.fingerprint,
    state,
  };
}

export function decide(prev: AlertRecord | undefined, input: DecideInput): Decision {
  const { now, condition, fingerprint, observedAt } = input;
  const silenced = Boolean(prev?.silencedUntil && prev.silencedUntil > now);

  if (!condition) {
    if (!prev || prev.state !== 'firing') return { quiet: 'ok', state: prev?.state ?? 'ok' };
    if (prev.lastFiredAt && prev.lastFiredAt > observedAt) return { quiet: 'stale', state: prev.state };
    // Resolved: say so in the thread, but only if the firing was told (not silenced or inhibited throughout).
    const told = Boolean(prev.lastNotifiedAt);
    const tell = told && !silenced;
    const next: AlertRecord = {
      ...prev,
      state: 'resolved',
      // Stamped with the observer's time, so that a later observation compares with it.
      resolvedAt: observedAt,
      lastNotifiedAt: tell ? now : prev.lastNotifiedAt,
      notifyCount: prev.notifyCount + (tell ? 1 : 0),
      updatedAt: now,
    };
    if (!tell) return { next, quiet: silenced ? 'silenced' : 'ok', state: 'resolved' };
    const details = {
      ...(prev.details ?? {}),
      firing_since: prev.firstFiredAt ? alertTimestamp(prev.firstFiredAt) : undefined,
    };
    return {
      next,
      notify: toAlert({ ...prev, message: `Resolved: ${prev.message}`, details }, 'resolved', now),
      state: 'resolved',
    };
  }

  if (prev?.state === 'resolved' && prev.resolvedAt && prev.resolvedAt > observedAt)
    return { quiet: 'stale', state: prev.state };
  const wasFiring = prev?.state === 'firing';
  const repeatDue = !prev?.lastNotifiedAt || now.getTime() - prev.lastNotifiedAt.getTime() >= input.repeatMs;
  const shouldNotify = !silenced && !input.inhibited && (!wasFiring || repeatDue);
  const next: AlertRecord = {
    fingerprint,
    state: 'firing',
    level: condition.level,
    script: condition.script,
    errorType: condition.errorType,
    message: condition.message.slice(0, 2048),
    details: condition.details ?? {},
    firstFiredAt: wasFiring ? (prev!.firstFiredAt ?? observedAt) : observedAt,
    lastFiredAt: observedAt,
    lastNotifiedAt: shouldNotify ? now : wasFiring ? (prev!.lastNotifiedAt ?? null) : null,
    resolvedAt: null,
    notifyCount: (prev?.notifyCount ?? 0) + (shouldNotify ? 1 : 0),
    silencedUntil: prev?.silencedUntil ?? null,
    silenceReason: prev?.silenceReason ?? null,
    updatedAt: now,
  };
  if (!shouldNotify)
    return { next, quiet: silenced ? 'silenced' : input.inhibited ? 'inhibited' : 'repeat-window', state: 'firing' };
  const details = {
    ...(condition.details ?? {}),
    ...(wasFiring ? { firing_since: alertTimestamp(next.firstFiredAt!), repeat: true } : {}),
  };
  return { next, notify: toAlert({ ...next, details }, 'firing', now), state: 'firing' };
}

/** An empty record for a fingerprint silenced before it ever fired. */
export function silencedRecord(fingerprint: string, until: Date, reason: string, now: Date): AlertRecord {
  return {
    fingerprint,
    state: 'ok',
    level: 'INFO',
    script: 'monitor',
    errorType: '-',
    message: '-',
    details: null,
    firstFiredAt: null,
    lastFiredAt: null,
    lastNotifiedAt: null,
    resolvedAt: null,
    notifyCount: 0,
    silencedUntil: until,
    silenceReason: reason,
    updatedAt: now,
  };
}
