import { describe, expect, it } from 'vitest';
import { distinctWorkers } from '../src/index.js';

describe('distinctWorkers', () => {
  it('counts a worker once although BullMQ lists each of its connections', () => {
    const clients = [
      { name: 'sync', rawname: 'pcs:c3luYw==:w:pcs-worker:sync:host-a:101', addr: '127.0.0.1:5000', age: '12' },
      { name: 'sync', rawname: 'pcs:c3luYw==:w:pcs-worker:sync:host-a:101', addr: '127.0.0.1:5001', age: '12' },
      { name: 'sync', rawname: 'pcs:c3luYw==:w:pcs-worker:sync:host-b:202', addr: '127.0.0.1:5002', age: '3' },
    ];
    expect(distinctWorkers(clients)).toEqual([
      { name: 'pcs-worker:sync:host-a:101', addr: '127.0.0.1:5000', ageSeconds: 12 },
      { name: 'pcs-worker:sync:host-b:202', addr: '127.0.0.1:5002', ageSeconds: 3 },
    ]);
  });
});
