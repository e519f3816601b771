import { describe, expect, it } from 'vitest';
import { evaluateQueues, QUEUE_LIMITS, type QueueHealth } from '../src/index.js';

const q = (over: Partial<QueueHealth> = {}): QueueHealth => ({
  queue: 'sync',
  waiting: 0,
  active: 0,
  delayed: 0,
  failed: 0,
  oldestWaitingMs: null,
  workers: 1,
  ...over,
});

describe('queues check thresholds', () => {
  it('is ok at the limits and warns or is critical past them', () => {
    expect(evaluateQueues([q({ failed: QUEUE_LIMITS.failedWarn })]).status).toBe('ok');
    expect(evaluateQueues([q({ failed: QUEUE_LIMITS.failedWarn + 1 })]).status).toBe('warning');
    expect(evaluateQueues([q({ waiting: 1, oldestWaitingMs: QUEUE_LIMITS.waitingAgeWarnMs })]).status).toBe('ok');
    expect(evaluateQueues([q({ waiting: 1, oldestWaitingMs: QUEUE_LIMITS.waitingAgeWarnMs + 1 })]).status).toBe(
      'warning',
    );
    expect(evaluateQueues([q({ waiting: 1, oldestWaitingMs: QUEUE_LIMITS.waitingAgeCriticalMs + 1 })]).status).toBe(
      'critical',
    );
  });

  it('a queue with work and no worker is critical; an idle queue without workers is fine', () => {
    expect(evaluateQueues([q({ workers: 0 })]).status).toBe('ok');
    const r = evaluateQueues([q({ workers: 0, delayed: 1 })]);
    expect(r.status).toBe('critical');
    expect(r.message).toMatch(/no worker online for queue sync/);
  });
});
