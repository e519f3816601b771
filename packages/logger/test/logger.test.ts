import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoggers, createRedactor } from '../src/index.js';

const WEBHOOK = 'https://chat.googleapis.com/v1/spaces/AAAA/messages?key=AIzaSyKEYVALUE&token=TOKENVALUE%3D';
const PD_KEY = 'pd-live-0123456789';

function settings(dir: string, maxSize = '10m', maxFiles = 5) {
  return { log: { dir, level: 'info', maxSize, maxFiles }, secrets: [PD_KEY, 'AIzaSyKEYVALUE', 'TOKENVALUE='] };
}

function readChannel(dir: string, channel: string): string {
  const folder = join(dir, channel);
  return readdirSync(folder)
    .map((f) => readFileSync(join(folder, f), 'utf8'))
    .join('');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('logger', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"Invalid Access Token"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('keeps the channel in `name` even when a logged object has a name of its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const loggers = await createLoggers(settings(dir), { console: false, channels: ['cleanup'] });
    loggers.get('cleanup').info({ orgId: 14, name: 'Żabka Logistics 14' }, 'marked contact');
    await loggers.close();
    const file = readdirSync(join(dir, 'cleanup'))[0]!;
    const line = JSON.parse(readFileSync(join(dir, 'cleanup', file), 'utf8').trim()) as Record<string, unknown>;
    expect(line.name).toBe('cleanup');
    expect(line.objectName).toBe('Żabka Logistics 14');
    expect(line.orgId).toBe(14);
  });

  it('says which folder it cannot write and what to do, instead of a bare EACCES', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const notADir = join(dir, 'logs');
    writeFileSync(notADir, 'a file where the log folder should be');
    await expect(createLoggers(settings(notADir), { console: false })).rejects.toThrow(
      /cannot write the \w+ log in .*\(LOG_DIR=.*\/logs\): E\w+; create the folder and let this user write to it/,
    );
  });

  it('writes JSON lines with time, level, msg and name into one folder per channel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const loggers = await createLoggers(settings(dir), { console: false });
    loggers.get('sync').info({ runId: 'r1' }, 'sync started');
    loggers.get('alerts').warn('alert queued');
    await loggers.close();
    expect(readdirSync(dir).sort()).toEqual(['alerts', 'cleanup', 'monitor', 'sync', 'worker']);
    expect(readdirSync(join(dir, 'sync'))).toEqual(['sync.1.log']);
    const line = JSON.parse(readChannel(dir, 'sync').trim());
    expect(line).toMatchObject({ level: 'info', msg: 'sync started', name: 'sync', runId: 'r1' });
    expect(new Date(line.time).toString()).not.toBe('Invalid Date');
    expect(JSON.parse(readChannel(dir, 'alerts').trim())).toMatchObject({ level: 'warn', name: 'alerts' });
  });

  it('redacts secrets in messages, objects, URLs and axios errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const loggers = await createLoggers(settings(dir), { console: false });
    const log = loggers.get('alerts');
    log.info(`posting to ${WEBHOOK}`);
    log.info(
      { webhook: WEBHOOK, headers: { 'x-api-token': PD_KEY, api_access_token: 'cw-unknown-token-xyz' } },
      'request',
    );
    log.info(
      { url: 'https://acme.pipedrive.com/api/v2/organizations?api_token=unknownsecret42&limit=500' },
      'legacy url',
    );
    log.info({ dsn: 'mysql://app:dbpassword99@db:3306/x' }, 'db');
    const err = await axios
      .get(`http://127.0.0.1:${port}/api/v2/organizations?api_token=${PD_KEY}`, {
        headers: { 'x-api-token': PD_KEY, api_access_token: 'another-token-77' },
      })
      .catch((e: unknown) => e);
    log.error({ err }, 'request failed');
    await loggers.close();
    const text = readChannel(dir, 'alerts');
    for (const secret of [
      PD_KEY,
      'AIzaSyKEYVALUE',
      'TOKENVALUE',
      'cw-unknown-token-xyz',
      'unknownsecret42',
      'dbpassword99',
      'another-token-77',
    ]) {
      expect(text).not.toContain(secret);
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const failed = lines.find((l) => l.msg === 'request failed');
    expect(failed.err).toMatchObject({ status: 401, request: { method: 'GET' } });
    expect(failed.err.responseBody).toContain('Invalid Access Token');
    expect(lines[0].msg).toContain('spaces/AAAA/messages?key=[REDACTED]&token=[REDACTED]');
  });

  it('rolls at LOG_MAX_SIZE and keeps LOG_MAX_FILES rolled files, also across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    // Files left by an earlier process (older numbers) must not pile up.
    const folder = join(dir, 'sync');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    for (let i = 1; i <= 6; i++) writeFileSync(join(folder, `sync.${i}.log`), `{"old":${i}}\n`);
    const loggers = await createLoggers(settings(dir, '1k', 3), { console: false, channels: ['sync'] });
    const log = loggers.get('sync');
    for (let i = 0; i < 60; i++) {
      log.info({ i, pad: 'x'.repeat(200) }, 'filler line');
      await sleep(2);
    }
    await sleep(200);
    await loggers.close();
    const files = readdirSync(folder).sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
    // LOG_MAX_FILES rolled files are kept besides the one being written (the seed's backupCount).
    expect(files.length).toBeLessThanOrEqual(4);
    expect(files.length).toBeGreaterThanOrEqual(3);
    expect(files.every((f) => /^sync\.\d+\.log$/.test(f))).toBe(true);
    // numbering continued after the earlier process's files
    expect(Number(files[0]!.split('.')[1])).toBeGreaterThan(6);
    for (const f of files.slice(0, -1)) expect(statSync(join(folder, f)).size).toBeGreaterThanOrEqual(1024);
  });

  it('never lets a secret reach stdout', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const script = `
      import { createLoggers } from './packages/logger/src/index.ts';
      const l = await createLoggers({ log: { dir: ${JSON.stringify(dir)}, level: 'info', maxSize: '10m', maxFiles: 5 }, secrets: [${JSON.stringify(PD_KEY)}] }, { channels: ['worker'] });
      l.get('worker').info({ token: 'abc-secret-123', url: ${JSON.stringify(WEBHOOK)} }, 'key is ${PD_KEY}');
      await l.close();`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(__dirname, '../../..'),
      encoding: 'utf8',
    });
    expect(res.status).toBe(0);
    const out = JSON.parse(res.stdout.trim());
    expect(out).toMatchObject({ name: 'worker', msg: 'key is [REDACTED]', token: '[REDACTED]' });
    expect(res.stdout).not.toMatch(/pd-live|abc-secret|AIzaSyKEYVALUE|TOKENVALUE/);
  });

  it('redactor leaves ordinary text alone', () => {
    const r = createRedactor(['s3cr3t-value']);
    expect(r('{"msg":"synced 42 orgs","url":"https://acme.pipedrive.com/api/v2/organizations?limit=500"}')).toBe(
      '{"msg":"synced 42 orgs","url":"https://acme.pipedrive.com/api/v2/organizations?limit=500"}',
    );
  });
});
