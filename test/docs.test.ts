import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, VARIABLE_NAMES, envSchema, parseConfig } from '../packages/config/src/index.js';
import { parse as parseDotenv } from 'dotenv';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

describe('docs stay true to the code', () => {
  it("README's configuration table lists exactly the variables of the zod schema", () => {
    const section = readme.slice(readme.indexOf('## Configuration'));
    const documented = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
    expect(documented).toEqual([...VARIABLE_NAMES].sort());
  });

  it("README's defaults are the schema's defaults", () => {
    const defaults = parseConfig({ MYSQL_USER: 'x' });
    const row = (name: string) => new RegExp(`^\\| \`${name}\` \\| \`([^\`]+)\``, 'm').exec(readme)?.[1];
    expect(row('BATCH_SIZE')).toBe(String(defaults.batchSize));
    expect(row('QUEUE_PREFIX')).toBe(defaults.redis.prefix);
    expect(row('LOG_MAX_FILES')).toBe(String(defaults.log.maxFiles));
    expect(row('CLEANUP_ACTION')).toBe(defaults.cleanupAction);
    expect(row('MYSQL_DATABASE')).toBe(defaults.database.database);
    expect(row('SYNC_INTERVAL_MINUTES')).toBe(String(defaults.schedules.sync.every! / 60_000));
  });

  it('.env.example names every variable and parses as a valid configuration', () => {
    const example = parseDotenv(readFileSync(join(REPO_ROOT, '.env.example')));
    expect(Object.keys(example).sort()).toEqual([...VARIABLE_NAMES].sort());
    expect(envSchema.safeParse(example).success).toBe(true);
  });

  it('README names the set-up and test commands', () => {
    expect(readme).toMatch(/```bash\npnpm install\n```/);
    expect(readme).toMatch(/```bash\npnpm test\n```/);
  });

  it('the quick start is the two set-up commands, and every command the README shows exists', async () => {
    expect(readme).toMatch(/## Quick start[\s\S]*?```bash\npnpm install\npnpm run demo\n```/);
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
        .scripts,
    );
    const builtins = ['install', 'test', 'exec', 'vitest'];
    const used = [...readme.matchAll(/\bpnpm (?:run )?([a-z][\w:-]*)/g)].map((m) => m[1]!.replace(/:$/, ''));
    expect(used.filter((c) => !scripts.includes(c) && !builtins.includes(c))).toEqual([]);

    const { buildProgram } = await import('../apps/cli/src/program.js');
    const commands = (await buildProgram()).commands.map((c) => c.name());
    const cli = [...readme.matchAll(/(?:pnpm manage|manage\.sh) ([a-z][\w-]*)/g)].map((m) => m[1]!);
    expect(cli.length).toBeGreaterThan(10);
    expect([...new Set(cli.filter((c) => !commands.includes(c)))]).toEqual([]);
  });
});
