import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { tempDir } from './support/index.js';

/** The commands the original operator guide (seed MONITORING.md) runs through ./scripts/manage.sh. */
const SEED_COMMANDS = ['monitor', 'test-alerts', 'monitor-logs', 'logs', 'sync'];

const script = join(REPO_ROOT, 'scripts/manage.sh');

/**
 * A stand-in for the docker CLI (no Docker engine runs here): it answers `compose version` and
 * `compose ps`, as a running or stopped stack would, and records every `compose exec` it is asked for.
 */
function fakeDocker(stack: 'up' | 'down', flavour: 'v2' | 'v1' = 'v2'): { path: string; calls: () => string[] } {
  const dir = tempDir('fake-docker');
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'docker'),
    `#!/usr/bin/env bash
echo "$*" >> "${log}"
case "$1 $2" in
  "compose version") echo "Docker Compose version v2.40.0"; exit 0 ;;
  "compose ps") ${stack === 'up' ? 'printf "redis\\nmysql\\nworker\\nmonitor\\ndashboard\\n"' : 'true'}; exit 0 ;;
  "compose exec") exit 0 ;;
esac
exit 1
`,
  );
  chmodSync(join(bin, 'docker'), 0o755);
  if (flavour === 'v1') {
    // Only the old standalone docker-compose: `docker compose` is an unknown command.
    writeFileSync(join(bin, 'docker'), `#!/usr/bin/env bash\necho "$*" >> "${log}"\nexit 1\n`);
    writeFileSync(
      join(bin, 'docker-compose'),
      `#!/usr/bin/env bash
echo "docker-compose $*" >> "${log}"
case "$1" in
  ps) ${stack === 'up' ? 'printf "worker\\n"' : 'true'}; exit 0 ;;
  exec) exit 0 ;;
esac
exit 1
`,
    );
    chmodSync(join(bin, 'docker-compose'), 0o755);
  }
  writeFileSync(log, '');
  return {
    path: `${bin}:${process.env.PATH}`,
    calls: () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean),
  };
}

function manageSh(args: string[], env: Record<string, string>) {
  const r = spawnSync(script, args, {
    cwd: REPO_ROOT,
    env: { HOME: process.env.HOME ?? '/tmp', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('scripts/manage.sh', () => {
  it('runs every seed command locally when no compose stack runs', () => {
    const docker = fakeDocker('down');
    for (const cmd of SEED_COMMANDS) {
      const r = manageSh([cmd, '--help'], { PATH: docker.path, ENV_FILE: 'none' });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`Usage: manage ${cmd}`);
    }
    expect(docker.calls().filter((c) => c.startsWith('compose exec'))).toEqual([]);

    // And for real: the seed's "view monitoring logs" reads the monitor channel's files.
    const logDir = tempDir('manage-sh-logs');
    mkdirSync(join(logDir, 'monitor'));
    writeFileSync(
      join(logDir, 'monitor', 'monitor.1.log'),
      `${JSON.stringify({ level: 'warn', time: '2026-11-27T10:00:00.000Z', name: 'monitor', msg: 'sync is stale' })}\n`,
    );
    const logs = manageSh(['monitor-logs', '-n', '5'], {
      PATH: docker.path,
      ENV_FILE: 'none',
      LOG_DIR: logDir,
      NO_COLOR: '1',
    });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toMatch(/WARN +\[monitor\] sync is stale/);
  });

  it('runs every seed command inside the compose worker service when the stack runs', () => {
    const docker = fakeDocker('up');
    for (const cmd of SEED_COMMANDS) {
      const r = manageSh([cmd, '--json'], { PATH: docker.path });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
    }
    const execs = docker.calls().filter((c) => c.startsWith('compose exec'));
    // Not a terminal here, so -T: docker compose exec would otherwise wait for a TTY.
    expect(execs).toEqual(
      SEED_COMMANDS.map((cmd) => `compose exec -T worker node apps/cli/dist/main.js ${cmd} --json`),
    );
  });

  it('uses the standalone docker-compose (v1) when `docker compose` is not there', () => {
    const docker = fakeDocker('up', 'v1');
    const r = manageSh(['sync', '--json'], { PATH: docker.path });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('running in the compose worker service');
    expect(docker.calls().filter((c) => c.startsWith('docker-compose exec'))).toEqual([
      'docker-compose exec -T worker node apps/cli/dist/main.js sync --json',
    ]);
  });

  it('can be told to stay local while a stack runs (PCS_LOCAL=1)', () => {
    const docker = fakeDocker('up');
    const r = manageSh(['status', '--help'], { PATH: docker.path, PCS_LOCAL: '1', ENV_FILE: 'none' });
    expect(r.code).toBe(0);
    expect(docker.calls()).toEqual([]);
  });
});
