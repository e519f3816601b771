import { Init1764200000000 } from './1764200000000-Init.js';
import { PipedriveMirror1764300000000 } from './1764300000000-PipedriveMirror.js';
import { RunBatches1764400000000 } from './1764400000000-RunBatches.js';
import { SyncTarget1764500000000 } from './1764500000000-SyncTarget.js';
import { StateOwners1764600000000 } from './1764600000000-StateOwners.js';
import { HistoryIndexes1764700000000 } from './1764700000000-HistoryIndexes.js';
import { MetricCounters1764800000000 } from './1764800000000-MetricCounters.js';

/** Every migration, in order. Listed explicitly so tsc, tsx and vitest all find them. */
export const MIGRATIONS = [
  Init1764200000000,
  PipedriveMirror1764300000000,
  RunBatches1764400000000,
  SyncTarget1764500000000,
  StateOwners1764600000000,
  HistoryIndexes1764700000000,
  MetricCounters1764800000000,
];
