import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLoggers, createRedactor, listLogFiles } from '../src/index.js';

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
      /cannot write the (\w+ log|logs) in .*\/logs\/\S+ \(LOG_DIR=.*\/logs\): E\w+; create the folder and let this user write to it/,
    );
  });

  it('writes JSON lines with time, level, msg, name, hostname and pid into a file of its own per channel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const loggers = await createLoggers(settings(dir), { console: false, role: 'worker' });
    loggers.get('sync').info({ runId: 'r1' }, 'sync started');
    loggers.get('alerts').warn('alert queued');
    await loggers.close();
    expect(
      readdirSync(dir)
        .filter((f) => !f.startsWith('.'))
        .sort(),
    ).toEqual(['alerts', 'cleanup', 'monitor', 'sync', 'worker']);
    // <channel>.<role>-<host>.<n>.log (docs/contract.md §7); a channel never written has no file.
    expect(loggers.processName).toBe(
      `worker-${hostname()
        .split('.')[0]!
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')}`,
    );
    expect(readdirSync(join(dir, 'sync'))).toEqual([`sync.${loggers.processName}.1.log`]);
    expect(readdirSync(join(dir, 'cleanup'))).toEqual([]);
    const line = JSON.parse(readChannel(dir, 'sync').trim());
    expect(line).toMatchObject({
      level: 'info',
      msg: 'sync started',
      name: 'sync',
      runId: 'r1',
      hostname: hostname(),
      pid: process.pid,
    });
    expect(new Date(line.time).toString()).not.toBe('Invalid Date');
    expect(JSON.parse(readChannel(dir, 'alerts').trim())).toMatchObject({
      level: 'warn',
      name: 'alerts',
      hostname: hostname(),
      pid: process.pid,
    });
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

  it('rolls at LOG_MAX_SIZE and keeps LOG_MAX_FILES rolled files of its own, also across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const folder = join(dir, 'sync');
    mkdirSync(folder, { recursive: true });
    // Files another process is writing (here: the shared series of earlier versions) are not ours to prune.
    for (let i = 1; i <= 6; i++) writeFileSync(join(folder, `sync.${i}.log`), `{"old":${i}}\n`);
    const own = (name: string) =>
      listLogFiles(folder, 'sync')
        .filter((f) => f.process === name)
        .sort((a, b) => a.number - b.number);
    let name = '';
    for (let run = 0; run < 2; run++) {
      // A restart: the process that comes back (same role, same host) continues its own series.
      const loggers = await createLoggers(settings(dir, '1k', 3), { console: false, channels: ['sync'], role: 'w' });
      if (run === 1) expect(loggers.processName).toBe(name);
      name = loggers.processName;
      // One line per event-loop turn, as a process logs between its awaits: pino-roll rolls at the
      // end of the turn in which a file reached LOG_MAX_SIZE (rolling.ts).
      for (let i = 0; i < 30; i++) {
        loggers.get('sync').info({ i, run, pad: 'x'.repeat(200) }, 'filler line');
        await new Promise((r) => setImmediate(r));
      }
      await loggers.close();
    }
    const files = own(name);
    // LOG_MAX_FILES rolled files are kept besides the one being written (the seed's backupCount),
    // which is removed at exit if no line went into it after the last roll.
    const rolled = files.filter((f) => f.size >= 1024);
    expect(rolled).toHaveLength(3);
    expect(files.length - rolled.length).toBeLessThanOrEqual(1);
    expect(files.slice(0, 3)).toEqual(rolled);
    expect(files[0]!.number).toBeGreaterThan(5); // numbering went on across the restart
    expect(readFileSync(files.at(-1)!.path, 'utf8')).toContain('"run":1');
    expect(own('')).toHaveLength(6);
  });

  it('keeps a process that never rolls (the CLI, run again and again) to LOG_MAX_FILES + 1 files while another rolls on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const folder = join(dir, 'sync');
    mkdirSync(folder, { recursive: true });
    let name = '';
    for (let run = 1; run <= 6; run++) {
      // Meanwhile a worker rolled: file numbers in the folder went up (pino-roll numbers after the highest).
      writeFileSync(join(folder, `sync.worker-other.${run * 10}.log`), '{"msg":"worker"}\n');
      const loggers = await createLoggers(settings(dir, '10m', 2), { console: false, channels: ['sync'], role: 'c' });
      name = loggers.processName;
      loggers.get('sync').info({ run }, 'one line per run');
      await loggers.close();
    }
    const files = listLogFiles(folder, 'sync')
      .filter((f) => f.process === name)
      .sort((a, b) => a.number - b.number);
    expect(files.map((f) => f.number)).toEqual([40, 50, 60]);
    expect(readFileSync(files.at(-1)!.path, 'utf8')).toContain('"run":6');
    expect(listLogFiles(folder, 'sync').filter((f) => f.process === 'worker-other')).toHaveLength(6);
  });

  it('gives a second process of the same role on the same host a name of its own, and takes back the name of one that died', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const first = await createLoggers(settings(dir), { console: false, channels: ['worker'], role: 'w' });
    const second = await createLoggers(settings(dir), { console: false, channels: ['worker'], role: 'w' });
    expect(second.processName).toBe(`${first.processName}-2`);
    first.get('worker').info('from the first');
    second.get('worker').info('from the second');
    // Written when the call returns (synchronous writes): nothing waits in memory for a crash to lose.
    expect(readFileSync(join(dir, 'worker', `worker.${first.processName}.1.log`), 'utf8')).toContain('from the first');
    expect(readdirSync(join(dir, 'worker')).sort()).toEqual(
      [`worker.${first.processName}.1.log`, `worker.${second.processName}.1.log`].sort(),
    );
    await first.close();
    // A clean exit gives the name back at once.
    const third = await createLoggers(settings(dir), { console: false, channels: ['worker'], role: 'w' });
    expect(third.processName).toBe(first.processName);
    await third.close();
    await second.close();

    // A process that died without a word: its claim goes stale, and the next process takes its name over.
    const claim = join(dir, '.processes', `${first.processName}.json`);
    writeFileSync(claim, JSON.stringify({ pid: 999_999, token: 'dead' }));
    const held = await createLoggers(settings(dir), { console: false, channels: ['worker'], role: 'w' });
    expect(held.processName).toBe(`${first.processName}-2`); // still fresh: not taken
    await held.close();
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(claim, old, old);
    const heir = await createLoggers(settings(dir), { console: false, channels: ['worker'], role: 'w' });
    expect(heir.processName).toBe(first.processName);
    await heir.close();
  });

  it('moves to a free name when another process took its name over (it stood still too long)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const loggers = await createLoggers(settings(dir), {
      console: false,
      channels: ['worker'],
      role: 'w',
      claim: { heartbeatMs: 20 },
    });
    const first = loggers.processName;
    loggers.get('worker').info('before');
    // What a process that took this one for dead does: its own claim in place of ours.
    writeFileSync(join(dir, '.processes', `${first}.json`), JSON.stringify({ token: 'someone-else' }));
    const deadline = Date.now() + 5_000;
    while (loggers.processName === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(loggers.processName).toBe(`${first}-2`);
    loggers.get('worker').info('after');
    await loggers.close();
    expect(readFileSync(join(dir, 'worker', `worker.${first}.1.log`), 'utf8')).not.toContain('after');
    expect(readFileSync(join(dir, 'worker', `worker.${first}-2.1.log`), 'utf8')).toContain('"msg":"after"');
    // The other process's claim is left alone.
    expect(readFileSync(join(dir, '.processes', `${first}.json`), 'utf8')).toContain('someone-else');
  });

  it('removes the files of processes long gone, and never those of a living one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcs-log-'));
    const folder = join(dir, 'sync');
    mkdirSync(join(dir, '.processes'), { recursive: true });
    mkdirSync(folder, { recursive: true });
    const write = (file: string, ageDays: number) => {
      writeFileSync(join(folder, file), '{"msg":"x"}\n');
      const t = new Date(Date.now() - ageDays * 86_400_000);
      utimesSync(join(folder, file), t, t);
    };
    // A living process (fresh claim) whose channel has been quiet for weeks.
    writeFileSync(join(dir, '.processes', 'worker-alive.json'), '{"token":"x"}');
    write('sync.worker-alive.3.log', 30);
    // A process gone for good (no claim): its old files go, its recent ones stay a while.
    write('sync.worker-gone.1.log', 9);
    write('sync.worker-gone.2.log', 8);
    write('sync.worker-gone.3.log', 2);
    // The shared series of earlier versions, untouched for long.
    write('sync.4.log', 10);
    write('notes.txt', 30);
    const loggers = await createLoggers(settings(dir), { console: false, channels: ['sync'], role: 'w' });
    await loggers.close();
    expect(readdirSync(folder).sort()).toEqual(['notes.txt', 'sync.worker-alive.3.log', 'sync.worker-gone.3.log']);
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
