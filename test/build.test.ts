import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../packages/config/src/index.js';
import { tempDir, waitFor } from './support/index.js';
import { createStack, type TestStack } from './support/stack.js';

/**
 * The production build (README "Production build"): scripts/build.mjs, run by test/global-setup.ts
 * before this file, as by `pnpm build`. The compiled apps run with plain node (no tsx, no
 * TypeScript) against the machine's Redis and MariaDB, and the image and compose run those files.
 */

const APPS = ['cli', 'dashboard', 'demo', 'simulator', 'worker'];
const PACKAGES = readdirSync(join(REPO_ROOT, 'packages')).filter((p) =>
  existsSync(join(REPO_ROOT, 'packages', p, 'package.json')),
);
const hash = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);

function node(args: string[], env: Record<string, string>, cwd = REPO_ROOT) {
  const r = spawnSync(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH!, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pnpm build', () => {
  // test/global-setup.ts built it; again here (nothing to do, usually) in case a source changed since.
  beforeAll(() => {
    const r = node(['scripts/build.mjs', '--if-stale'], {});
    expect(r.code, r.stderr).toBe(0);
  });

  it('emits JavaScript for every app and package, built from the sources as they are now', () => {
    for (const dir of [...APPS.map((a) => `apps/${a}`), ...PACKAGES.map((p) => `packages/${p}`)]) {
      const info = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'dist/build-info.json'), 'utf8')) as {
        inputs: Record<string, string>;
      };
      const inputs = Object.keys(info.inputs);
      expect(inputs.length, dir).toBeGreaterThan(0);
      for (const input of inputs) expect(hash(join(REPO_ROOT, input)), `${dir}: ${input}`).toBe(info.inputs[input]);
      expect(existsSync(join(REPO_ROOT, dir, 'dist', dir.startsWith('apps/') ? 'main.js' : 'index.js')), dir).toBe(
        true,
      );
    }
    // Each app inlines the workspace packages it uses: its bundle was built from their sources too.
    const worker = JSON.parse(readFileSync(join(REPO_ROOT, 'apps/worker/dist/build-info.json'), 'utf8')) as {
      inputs: Record<string, string>;
    };
    expect(Object.keys(worker.inputs)).toEqual(
      expect.arrayContaining(['apps/worker/src/main.ts', 'packages/sync/src/index.ts', 'packages/db/src/index.ts']),
    );
  });

  it('leaves TypeScript and tsx out of what the apps load', () => {
    for (const app of APPS) {
      const dist = join(REPO_ROOT, 'apps', app, 'dist');
      const files = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
      for (const f of files) {
        const code = readFileSync(join(dist, f), 'utf8');
        expect(code, `${app}/dist/${f}`).not.toMatch(/from ["'](tsx|typescript|@pcs\/[^"']+)["']/);
        expect(code, `${app}/dist/${f}`).not.toMatch(/from ["'][^"']+\.ts["']/);
      }
    }
  });

  it('makes a compiled package importable on its own (export condition "pcs-dist")', () => {
    const r = node(
      [
        '--conditions=pcs-dist',
        '--input-type=module',
        '-e',
        "const m = await import('@pcs/errors'); const u = import.meta.resolve('@pcs/errors'); console.log(typeof m.describeError, u.endsWith('/packages/errors/dist/index.js'));",
      ],
      {},
      join(REPO_ROOT, 'packages/config'),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function true');
  });
});

describe('the compiled apps, with plain node', () => {
  let stack: TestStack;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    stack = await createStack('build', { DASHBOARD_AUTH: 'off', DASHBOARD_HOST: '127.0.0.1' });
    env = stack.env;
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await stack?.close();
  });

  const start = (args: string[], extra: Record<string, string> = {}) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH!, ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    return { child, output: () => out, stdout: () => stdout, exited };
  };
  const until = async <T>(what: string, app: { output(): string }, probe: () => T | undefined) => {
    try {
      return await waitFor(probe, { timeoutMs: 30_000, what });
    } catch (err) {
      throw new Error(`${(err as Error).message}; output: ${app.output().slice(-1000)}`, { cause: err });
    }
  };

  it('cli: --version, migrate and status --json', () => {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const v = node(['apps/cli/dist/main.js', '--version'], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe(version);
    const migrate = node(['apps/cli/dist/main.js', 'migrate', '--json'], env);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect((JSON.parse(migrate.stdout) as { applied: string[] }).applied).toHaveLength(7);
    const status = node(['apps/cli/dist/main.js', 'status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const doc = JSON.parse(status.stdout) as { prefix: string; queues: Record<string, unknown> };
    expect(doc.prefix).toBe(stack.prefix);
    expect(Object.keys(doc.queues)).toContain('sync');
  });

  it('worker, dashboard and cli together: a sync runs end to end, /healthz answers, SIGTERM stops them cleanly', async () => {
    const worker = start(['--max-old-space-size=128', '--enable-source-maps', 'apps/worker/dist/main.js']);
    const dash = start(['--enable-source-maps', 'apps/dashboard/dist/main.js'], { DASHBOARD_PORT: '0' });
    await until(
      'the compiled worker to be ready',
      worker,
      () => worker.output().includes('"worker ready"') || undefined,
    );
    const port = await until(
      'the compiled dashboard to listen',
      dash,
      () => /"port":(\d+),"board"/.exec(dash.output())?.[1],
    );
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);

    // Not spawnSync: the simulator answers from this process.
    const sync = start(['apps/cli/dist/main.js', 'sync', '--full', '--wait', '--json']);
    const code = await sync.exited;
    expect(code, sync.output()).toBe(0);
    expect((JSON.parse(sync.stdout()) as { status: string }).status).toBe('succeeded');

    for (const app of [worker, dash]) {
      app.child.kill('SIGTERM');
      expect(await app.exited, app.output().slice(-500)).toBe(0);
    }
  }, 120_000);
});

describe('what production runs', () => {
  it("the image's CMD and every compose app service run a compiled dist file that the build made", () => {
    const dockerfile = readFileSync(join(REPO_ROOT, 'infra/docker/Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
    const compose = parseYaml(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { command?: string[]; image?: string }>;
    };
    const commands: [string, string[]][] = [
      ['Dockerfile CMD', cmd],
      ...Object.entries(compose.services)
        .filter(([, s]) => s.image?.startsWith('pipedrive-chatwoot-sync:'))
        .map(([name, s]): [string, string[]] => [name, s.command!]),
    ];
    expect(commands.map(([name]) => name).sort()).toEqual(
      ['Dockerfile CMD', 'dashboard', 'migrate', 'monitor', 'simulator', 'worker'].sort(),
    );
    for (const [name, argv] of commands) {
      expect(argv[0], name).toBe('node');
      expect(argv.join(' '), name).not.toMatch(/tsx|\.ts\b/);
      const file = argv.find((a) => a.endsWith('.js'));
      expect(file, name).toMatch(/^apps\/[a-z]+\/dist\/main\.js$/);
      expect(existsSync(join(REPO_ROOT, file!)), `${name}: ${file}`).toBe(true);
    }
    expect(cmd).toContain('--max-old-space-size=128');
    // The build runs in its own stage; the image keeps production dependencies only.
    expect(dockerfile).toMatch(/^FROM \$\{NODE_IMAGE\} AS build$/m);
    expect(dockerfile).toMatch(/node scripts\/build\.mjs/);
    expect(dockerfile).toMatch(/^COPY --from=build /m);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies ?? {})).not.toContain('tsx');
  });
});

describe('scripts/prefer-dist.mjs (what `pnpm run worker`, `pnpm manage`… run)', () => {
  // A copy of the launcher next to a made-up app, so that its sources can change without touching the repository's.
  const root = tempDir('prefer-dist');
  mkdirSync(join(root, 'scripts'));
  for (const f of ['build.mjs', 'build-info.mjs', 'prefer-dist.mjs'])
    cpSync(join(REPO_ROOT, 'scripts', f), join(root, 'scripts', f));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  mkdirSync(join(root, 'apps/probe/src'), { recursive: true });
  mkdirSync(join(root, 'apps/probe/dist'), { recursive: true });
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');
  const src = join(root, 'apps/probe/src/main.ts');
  const run = (extra: Record<string, string> = {}) =>
    node(['scripts/prefer-dist.mjs', 'apps/probe/src/main.ts', 'an-arg'], extra, root);
  const built = (source: string) => {
    writeFileSync(src, source);
    writeFileSync(join(root, 'apps/probe/dist/main.js'), "console.log('compiled', process.argv.slice(2).join(' '));\n");
    writeFileSync(
      join(root, 'apps/probe/dist/build-info.json'),
      JSON.stringify({
        stamp: hash(join(root, 'scripts/build.mjs')),
        inputs: { 'apps/probe/src/main.ts': hash(src) },
      }),
    );
  };

  it('runs the compiled app when its dist matches the sources, in the same process', () => {
    built("const n: number = 1; console.log('sources', n);\n");
    const r = run();
    // Its own arguments, as if started directly.
    expect(r.stdout.trim()).toBe('compiled an-arg');
    expect(r.stderr).toBe('');
    // PCS_RUN=src: the sources anyway.
    expect(run({ PCS_RUN: 'src' }).stdout.trim()).toBe('sources 1');
  });

  it('never runs a stale dist: a changed source runs from source (tsx), and says so', () => {
    built("console.log('sources', 1);\n");
    writeFileSync(src, "const n: number = 2; console.log('sources', n);\n");
    const r = run();
    expect(r.stdout.trim()).toBe('sources 2');
    expect(r.stderr).toMatch(/apps\/probe\/dist is out of date \(apps\/probe\/src\/main\.ts changed\)/);
  });

  it('runs the sources quietly when nothing was built', () => {
    built("console.log('sources', 3);\n");
    writeFileSync(join(root, 'apps/probe/dist/build-info.json'), '');
    const r = run();
    expect(r.stdout.trim()).toBe('sources 3');
  });
});
