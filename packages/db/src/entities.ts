import { EntitySchema, type ValueTransformer } from 'typeorm';

/**
 * Tables, as EntitySchema (no decorators: tsx/esbuild emits no decorator metadata, and explicit
 * column types keep the schema identical under tsc, tsx and vitest). The schema itself is
 * created by migrations only (see migrations/), never by `synchronize` outside tests.
 */

/** JSON kept in a LONGTEXT column: MariaDB reports JSON columns as text, so we parse ourselves. */
const json: ValueTransformer = {
  to: (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v)),
  from: (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : (v ?? null)),
};

/** BIGINT comes back from mysql2 as a string; our ids fit in a double. */
const bigintNumber: ValueTransformer = {
  to: (v: unknown) => v,
  from: (v: unknown) => (v === null || v === undefined ? v : Number(v)),
};

export type SyncState = 'pending' | 'synced' | 'warning' | 'failed';

export interface Organization {
  /** The Pipedrive organization id. */
  id: number;
  name: string;
  isCustomer: boolean;
  isDeleted: boolean;
  chatwootContactId: number | null;
  /** Hash of the content last written to Chatwoot; unchanged → no Chatwoot call. */
  contentHash: string | null;
  syncState: SyncState;
  lastSyncedAt: Date | null;
  lastAttemptAt: Date | null;
  lastErrorType: string | null;
  lastError: string | null;
  /** Values Chatwoot rejected, keyed by field, with the source value they came from. */
  rejectedValues: Record<string, string> | null;
  pipedriveUpdateTime: Date | null;
  contactStatus: string | null;
  labelIds: number[] | null;
  city: string | null;
  country: string | null;
  customFields: Record<string, unknown> | null;
  /** The last run whose complete listing saw this organization. */
  seenRunId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export const OrganizationEntity = new EntitySchema<Organization>({
  name: 'Organization',
  tableName: 'organizations',
  columns: {
    id: { type: 'bigint', primary: true, transformer: bigintNumber },
    name: { type: 'varchar', length: 512 },
    isCustomer: { name: 'is_customer', type: 'boolean', default: false },
    isDeleted: { name: 'is_deleted', type: 'boolean', default: false },
    chatwootContactId: { name: 'chatwoot_contact_id', type: 'bigint', nullable: true, transformer: bigintNumber },
    contentHash: { name: 'content_hash', type: 'char', length: 64, nullable: true },
    syncState: { name: 'sync_state', type: 'varchar', length: 16, default: 'pending' },
    lastSyncedAt: { name: 'last_synced_at', type: 'datetime', precision: 3, nullable: true },
    lastAttemptAt: { name: 'last_attempt_at', type: 'datetime', precision: 3, nullable: true },
    lastErrorType: { name: 'last_error_type', type: 'varchar', length: 32, nullable: true },
    lastError: { name: 'last_error', type: 'varchar', length: 1024, nullable: true },
    rejectedValues: { name: 'rejected_values', type: 'longtext', nullable: true, transformer: json },
    pipedriveUpdateTime: { name: 'pipedrive_update_time', type: 'datetime', precision: 3, nullable: true },
    contactStatus: { name: 'contact_status', type: 'varchar', length: 32, nullable: true },
    labelIds: { name: 'label_ids', type: 'varchar', length: 1024, nullable: true, transformer: json },
    city: { type: 'varchar', length: 255, nullable: true },
    country: { type: 'varchar', length: 255, nullable: true },
    customFields: { name: 'custom_fields', type: 'longtext', nullable: true, transformer: json },
    seenRunId: { name: 'seen_run_id', type: 'char', length: 36, nullable: true },
    createdAt: { name: 'created_at', type: 'datetime', precision: 3, createDate: true },
    updatedAt: { name: 'updated_at', type: 'datetime', precision: 3, updateDate: true },
  },
});

export type RunType = 'sync' | 'cleanup';
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'refused';

export interface Run {
  id: string;
  type: RunType;
  /** sync: full | incremental | webhook; cleanup: mark | delete | dry-run */
  mode: string;
  trigger: string;
  status: RunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  /** When the Pipedrive listing of this run started (the next incremental run's since). */
  listingStartedAt: Date | null;
  listingComplete: boolean;
  batchesTotal: number;
  batchesDone: number;
  processed: number;
  created: number;
  updated: number;
  unchanged: number;
  adopted: number;
  warnings: number;
  failed: number;
  marked: number;
  deleted: number;
  skipped: number;
  /** The alert error type of a failure, in the original deployment's words (`auth issue`, …). */
  errorType: string | null;
  errorMessage: string | null;
  /** The failure's kind (see @pcs/errors), or `aborted` / `lost` for runs ended from outside. */
  errorKind: string | null;
  /** The part that failed (`pipedrive`, `chatwoot`, `database`, …), when known. */
  errorSource: string | null;
  details: Record<string, unknown> | null;
  /** The BullMQ job carrying the run (its listing, or the cleanup, or the targeted upsert). */
  jobId: string | null;
  /** Renewed by the run's progress; a running run past it is checked by the reaper. */
  leaseUntil: Date | null;
  /** Whether the alerts of the run's end were evaluated. */
  alertsDone: boolean;
}

const counter = (name: string) => ({ name, type: 'int' as const, unsigned: true, default: 0 });

export const RunEntity = new EntitySchema<Run>({
  name: 'Run',
  tableName: 'runs',
  columns: {
    id: { type: 'char', length: 36, primary: true },
    type: { type: 'varchar', length: 16 },
    mode: { type: 'varchar', length: 16 },
    trigger: { name: 'trigger_source', type: 'varchar', length: 16 },
    status: { type: 'varchar', length: 16 },
    startedAt: { name: 'started_at', type: 'datetime', precision: 3 },
    finishedAt: { name: 'finished_at', type: 'datetime', precision: 3, nullable: true },
    listingStartedAt: { name: 'listing_started_at', type: 'datetime', precision: 3, nullable: true },
    listingComplete: { name: 'listing_complete', type: 'boolean', default: false },
    batchesTotal: counter('batches_total'),
    batchesDone: counter('batches_done'),
    processed: counter('processed'),
    created: counter('created'),
    updated: counter('updated'),
    unchanged: counter('unchanged'),
    adopted: counter('adopted'),
    warnings: counter('warnings'),
    failed: counter('failed'),
    marked: counter('marked'),
    deleted: counter('deleted'),
    skipped: counter('skipped'),
    errorType: { name: 'error_type', type: 'varchar', length: 32, nullable: true },
    errorMessage: { name: 'error_message', type: 'varchar', length: 1024, nullable: true },
    errorKind: { name: 'error_kind', type: 'varchar', length: 16, nullable: true },
    errorSource: { name: 'error_source', type: 'varchar', length: 16, nullable: true },
    details: { type: 'longtext', nullable: true, transformer: json },
    jobId: { name: 'job_id', type: 'varchar', length: 191, nullable: true },
    leaseUntil: { name: 'lease_until', type: 'datetime', precision: 3, nullable: true },
    alertsDone: { name: 'alerts_done', type: 'boolean', default: false },
  },
});

export type Outcome =
  'created' | 'updated' | 'unchanged' | 'adopted' | 'warning' | 'failed' | 'marked' | 'deleted' | 'skipped';

export interface RecordOutcome {
  id: number;
  runId: string;
  orgId: number;
  outcome: Outcome;
  /** For failed and warning outcomes: rate_limit, transient, auth, bad_data, ... */
  errorType: string | null;
  message: string | null;
  createdAt: Date;
}

export const RecordOutcomeEntity = new EntitySchema<RecordOutcome>({
  name: 'RecordOutcome',
  tableName: 'record_outcomes',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment', transformer: bigintNumber },
    runId: { name: 'run_id', type: 'char', length: 36 },
    orgId: { name: 'org_id', type: 'bigint', transformer: bigintNumber },
    outcome: { type: 'varchar', length: 16 },
    errorType: { name: 'error_type', type: 'varchar', length: 32, nullable: true },
    message: { type: 'varchar', length: 1024, nullable: true },
    createdAt: { name: 'created_at', type: 'datetime', precision: 3 },
  },
});

export type CheckStatus = 'ok' | 'warning' | 'critical';

export interface CheckResult {
  id: number;
  check: string;
  status: CheckStatus;
  message: string;
  details: Record<string, unknown> | null;
  durationMs: number;
  checkedAt: Date;
}

export const CheckResultEntity = new EntitySchema<CheckResult>({
  name: 'CheckResult',
  tableName: 'check_results',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment', transformer: bigintNumber },
    check: { name: 'check_name', type: 'varchar', length: 64 },
    status: { type: 'varchar', length: 16 },
    message: { type: 'varchar', length: 1024 },
    details: { type: 'longtext', nullable: true, transformer: json },
    durationMs: { name: 'duration_ms', type: 'int', unsigned: true, default: 0 },
    checkedAt: { name: 'checked_at', type: 'datetime', precision: 3 },
  },
});

export type AlertStatus = 'ok' | 'firing' | 'resolved';

export interface AlertState {
  fingerprint: string;
  state: AlertStatus;
  level: string;
  script: string;
  errorType: string;
  message: string;
  details: Record<string, unknown> | null;
  firstFiredAt: Date | null;
  lastFiredAt: Date | null;
  lastNotifiedAt: Date | null;
  resolvedAt: Date | null;
  notifyCount: number;
  silencedUntil: Date | null;
  silenceReason: string | null;
  updatedAt: Date;
}

export const AlertStateEntity = new EntitySchema<AlertState>({
  name: 'AlertState',
  tableName: 'alert_states',
  columns: {
    fingerprint: { type: 'varchar', length: 191, primary: true },
    state: { type: 'varchar', length: 16 },
    level: { type: 'varchar', length: 16 },
    script: { type: 'varchar', length: 16 },
    errorType: { name: 'error_type', type: 'varchar', length: 64 },
    message: { type: 'varchar', length: 2048 },
    details: { type: 'longtext', nullable: true, transformer: json },
    firstFiredAt: { name: 'first_fired_at', type: 'datetime', precision: 3, nullable: true },
    lastFiredAt: { name: 'last_fired_at', type: 'datetime', precision: 3, nullable: true },
    lastNotifiedAt: { name: 'last_notified_at', type: 'datetime', precision: 3, nullable: true },
    resolvedAt: { name: 'resolved_at', type: 'datetime', precision: 3, nullable: true },
    notifyCount: { name: 'notify_count', type: 'int', unsigned: true, default: 0 },
    silencedUntil: { name: 'silenced_until', type: 'datetime', precision: 3, nullable: true },
    silenceReason: { name: 'silence_reason', type: 'varchar', length: 255, nullable: true },
    updatedAt: { name: 'updated_at', type: 'datetime', precision: 3 },
  },
});

export interface PersonValue {
  value: string;
  primary: boolean;
}

export interface Person {
  id: number;
  orgId: number | null;
  emails: PersonValue[];
  phones: PersonValue[];
  isDeleted: boolean;
  updateTime: Date | null;
  seenRunId: string | null;
}

export const PersonEntity = new EntitySchema<Person>({
  name: 'Person',
  tableName: 'persons',
  columns: {
    id: { type: 'bigint', primary: true, transformer: bigintNumber },
    orgId: { name: 'org_id', type: 'bigint', nullable: true, transformer: bigintNumber },
    emails: { type: 'longtext', nullable: true, transformer: json },
    phones: { type: 'longtext', nullable: true, transformer: json },
    isDeleted: { name: 'is_deleted', type: 'boolean', default: false },
    updateTime: { name: 'update_time', type: 'datetime', precision: 3, nullable: true },
    seenRunId: { name: 'seen_run_id', type: 'char', length: 36, nullable: true },
  },
});

export interface AlertOutboxEntry {
  id: number;
  fingerprint: string;
  /** `queue`: relayed to the notifications queue by a worker; `direct`: posted by the dashboard watchdog. */
  channel: string;
  /** The alert document (JSON). */
  alert: Record<string, unknown>;
  createdAt: Date;
  relayedAt: Date | null;
  attempts: number;
}

export const AlertOutboxEntity = new EntitySchema<AlertOutboxEntry>({
  name: 'AlertOutbox',
  tableName: 'alert_outbox',
  columns: {
    id: { type: 'bigint', primary: true, generated: 'increment', transformer: bigintNumber },
    fingerprint: { type: 'varchar', length: 191 },
    channel: { type: 'varchar', length: 16 },
    alert: { type: 'longtext', transformer: json },
    createdAt: { name: 'created_at', type: 'datetime', precision: 3 },
    relayedAt: { name: 'relayed_at', type: 'datetime', precision: 3, nullable: true },
    attempts: { type: 'int', unsigned: true, default: 0 },
  },
});

/**
 * A counter of the deployment's work (docs/contract.md §4), one row per metric and label set
 * (`key=value,…`), only ever added to by the owner of that work (packages/sync/src/runs/counters.ts).
 */
export interface MetricCounter {
  name: string;
  labels: string;
  value: number;
}

export const MetricCounterEntity = new EntitySchema<MetricCounter>({
  name: 'MetricCounter',
  tableName: 'metric_counters',
  columns: {
    name: { type: 'varchar', length: 64, primary: true },
    labels: { type: 'varchar', length: 191, primary: true },
    value: { type: 'bigint', unsigned: true, default: 0, transformer: bigintNumber },
  },
});

export const ENTITIES = [
  OrganizationEntity,
  PersonEntity,
  RunEntity,
  RecordOutcomeEntity,
  CheckResultEntity,
  AlertStateEntity,
  AlertOutboxEntity,
  MetricCounterEntity,
];
