import { AlertStateEntity, In, type AlertState, type DataSource } from '@pcs/db';
import { alertTimestamp } from '@pcs/notify';
import type { Alert } from '@pcs/queues';

/**
 * Alert rules with state per fingerprint (Alertmanager's model, kept in the alert_states table):
 * ok → firing (notify) → still firing (re-notify at most every ALERT_REPEAT_HOURS) → resolved
 * (notify, in the firing message's thread, since both carry the fingerprint as thread key).
 * A silenced fingerprint notifies nothing until the silence ends; a condition inhibited by a
 * firing alert (an API down explains stale records) does not notify on its own.
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

export interface RuleOptions {
  now: Date;
  repeatHours: number;
}

export interface Decision {
  /** What to send (0 or 1 alert). */
  notify: Alert[];
  /** Why nothing was sent, when nothing was. */
  quiet?: 'silenced' | 'inhibited' | 'repeat-window' | 'ok';
  state: AlertState['state'];
}

function toAlert(
  s: Pick<AlertState, 'fingerprint' | 'script' | 'level' | 'errorType' | 'message' | 'details'>,
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

/**
 * Evaluates one condition: `condition` present = firing now, `null` = fine now (for the given
 * fingerprint). Stores the new state and returns what to notify.
 */
export async function evaluate(
  ds: DataSource,
  fingerprint: string,
  condition: Condition | null,
  opts: RuleOptions,
): Promise<Decision> {
  const repo = ds.getRepository(AlertStateEntity);
  const { now } = opts;
  const prev = await repo.findOneBy({ fingerprint });
  const silenced = Boolean(prev?.silencedUntil && prev.silencedUntil > now);

  if (!condition) {
    if (!prev || prev.state !== 'firing') return { notify: [], quiet: 'ok', state: prev?.state ?? 'ok' };
    // Resolved: say so in the thread, but only if the firing was told (not silenced or inhibited throughout).
    const told = Boolean(prev.lastNotifiedAt);
    await repo.update(
      { fingerprint },
      {
        state: 'resolved',
        resolvedAt: now,
        lastNotifiedAt: told && !silenced ? now : prev.lastNotifiedAt,
        notifyCount: prev.notifyCount + (told && !silenced ? 1 : 0),
      },
    );
    if (!told || silenced) return { notify: [], quiet: silenced ? 'silenced' : 'ok', state: 'resolved' };
    const details = {
      ...(prev.details ?? {}),
      firing_since: prev.firstFiredAt ? alertTimestamp(prev.firstFiredAt) : undefined,
    };
    return {
      notify: [toAlert({ ...prev, message: `Resolved: ${prev.message}`, details }, 'resolved', now)],
      state: 'resolved',
    };
  }

  const inhibitors = condition.inhibitedBy?.length
    ? await repo.find({ where: { fingerprint: In(condition.inhibitedBy), state: 'firing' } })
    : [];
  const inhibited = inhibitors.length > 0;
  const wasFiring = prev?.state === 'firing';
  const repeatDue =
    !prev?.lastNotifiedAt || now.getTime() - prev.lastNotifiedAt.getTime() >= opts.repeatHours * 3_600_000;
  const shouldNotify = !silenced && !inhibited && (!wasFiring || repeatDue || !prev?.lastNotifiedAt);
  const next: AlertState = {
    fingerprint,
    state: 'firing',
    level: condition.level,
    script: condition.script,
    errorType: condition.errorType,
    message: condition.message.slice(0, 2048),
    details: condition.details ?? {},
    firstFiredAt: wasFiring ? (prev!.firstFiredAt ?? now) : now,
    lastFiredAt: now,
    lastNotifiedAt: shouldNotify ? now : wasFiring ? (prev!.lastNotifiedAt ?? null) : null,
    resolvedAt: null,
    notifyCount: (prev?.notifyCount ?? 0) + (shouldNotify ? 1 : 0),
    silencedUntil: prev?.silencedUntil ?? null,
    silenceReason: prev?.silenceReason ?? null,
    updatedAt: now,
  };
  await repo.save(next);
  if (!shouldNotify)
    return { notify: [], quiet: silenced ? 'silenced' : inhibited ? 'inhibited' : 'repeat-window', state: 'firing' };
  const details = {
    ...(condition.details ?? {}),
    ...(wasFiring ? { firing_since: alertTimestamp(next.firstFiredAt!), repeat: true } : {}),
  };
  return { notify: [toAlert({ ...next, details }, 'firing', now)], state: 'firing' };
}

/** Silences a fingerprint until `until` (like `amtool silence add`); it need not be firing yet. */
export async function silence(
  ds: DataSource,
  fingerprint: string,
  until: Date,
  reason = 'silenced from the CLI',
): Promise<void> {
  const repo = ds.getRepository(AlertStateEntity);
  const prev = await repo.findOneBy({ fingerprint });
  if (prev) await repo.update({ fingerprint }, { silencedUntil: until, silenceReason: reason });
  else
    await repo.save({
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
    });
}

export async function unsilence(ds: DataSource, fingerprint: string): Promise<boolean> {
  const res = await ds
    .getRepository(AlertStateEntity)
    .update({ fingerprint }, { silencedUntil: null, silenceReason: null });
  return Boolean(res.affected);
}

/** "2h", "30m", "1d", "90s" → milliseconds (Alertmanager-style durations). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
    m[2]!.toLowerCase() as 's' | 'm' | 'h' | 'd' | 'w'
  ];
  return Math.round(Number(m[1]) * unit);
}
