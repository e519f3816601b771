// The production build: JavaScript for every app and package (README "Production build").
//   node scripts/build.mjs                  every app and package
//   node scripts/build.mjs apps/worker ...  only those (turbo runs `node ../../scripts/build.mjs .` in each one)
//   node scripts/build.mjs --if-stale ...   only those whose dist no longer matches their sources
// An app becomes one ESM bundle, apps/<app>/dist/main.js (+ chunks/ for lazily loaded commands), with
// the workspace packages (@pcs/*) inlined and every npm package left external: those load from
// node_modules at run time, so the app's package.json must declare each one (checked below, or the
// production image, which installs only declared dependencies, would fail at run time).
// A package becomes plain JavaScript, file by file, in packages/<p>/dist (its "pcs-dist" export).
// Each dist carries build-info.json: a hash of every source it was built from, which
// scripts/prefer-dist.mjs compares before it runs a dist instead of the sources.
import { readdirSync, readFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';
import * as esbuild from 'esbuild';
import { BUILD_INFO, REPO_ROOT, buildStamp, hashFile, isFresh } from './build-info.mjs';

const TARGET = 'node20';
const BUILTINS = new Set(builtinModules);

/** The npm package a bare specifier names: `@scope/name/sub` → `@scope/name`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Writes a file through a temporary name and a rename, so a concurrent reader sees the old or the new file, whole. */
function writeAtomic(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/** Leaves @pcs/* and relative imports to esbuild (inlined); every other bare import stays external. */
const externalNpm = {
  name: 'external-npm',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@pcs/')) return undefined;
      if (args.path.startsWith('node:') || BUILTINS.has(packageName(args.path))) return { external: true };
      return { path: args.path, external: true };
    });
  },
};

async function buildApp(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const result = await esbuild.build({
    absWorkingDir: REPO_ROOT,
    entryPoints: { main: join(dir, 'src/main.ts') },
    outdir: join(dir, 'dist'),
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: TARGET,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'warning',
    plugins: [externalNpm],
  });
  const inputs = Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/'));
  checkDeclared(dir, pkg, result.metafile, inputs);
  return finish(dir, inputs, result.outputFiles);
}

/** Every npm package the bundle imports (or require()s by name) must be a dependency of the app itself. */
function checkDeclared(dir, pkg, metafile, inputs) {
  const used = new Set();
  for (const out of Object.values(metafile.outputs))
    for (const imp of out.imports) if (imp.external && !imp.path.startsWith('node:')) used.add(packageName(imp.path));
  for (const input of inputs)
    for (const m of readFileSync(join(REPO_ROOT, input), 'utf8').matchAll(
      /\brequire\(\s*['"]([^'"./][^'"]*)['"]\s*\)/g,
    ))
      used.add(packageName(m[1]));
  const declared = new Set(Object.keys(pkg.dependencies ?? {}));
  const missing = [...used].filter((name) => !BUILTINS.has(name) && !declared.has(name)).sort();
  if (missing.length)
    throw new Error(
      `${relative(REPO_ROOT, dir)}: the bundle loads ${missing.join(', ')} from node_modules at run time, but ` +
        `${relative(REPO_ROOT, dir)}/package.json does not declare ${missing.length > 1 ? 'them' : 'it'} in "dependencies" ` +
        '(a workspace package it inlines does): add the same version there, then pnpm install',
    );
}

/** Every .ts file under src, except tests and declarations. */
function sourceFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  walk(join(dir, 'src'));
  return out.sort();
}

async function buildPackage(dir) {
  const files = sourceFiles(dir);
  const result = await esbuild.build({
    absWorkingDir: REPO_ROOT,
    entryPoints: files,
    outbase: join(dir, 'src'),
    outdir: join(dir, 'dist'),
    bundle: false,
    format: 'esm',
    platform: 'node',
    target: TARGET,
    sourcemap: 'linked',
    sourcesContent: false,
    write: false,
    logLevel: 'warning',
  });
  return finish(
    dir,
    files.map((f) => relative(REPO_ROOT, f)),
    result.outputFiles,
  );
}

/** Replaces dist with the new files (stale ones removed), build-info.json last. */
function finish(dir, inputs, outputFiles) {
  const dist = join(dir, 'dist');
  const keep = new Set(outputFiles.map((f) => f.path));
  for (const f of outputFiles) writeAtomic(f.path, f.contents);
  if (existsSync(dist))
    for (const e of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      const p = join(e.parentPath ?? e.path, e.name);
      if (e.isFile() && !keep.has(p) && basename(p) !== BUILD_INFO && !p.endsWith('.tmp')) rmSync(p, { force: true });
    }
  const info = {
    stamp: buildStamp(),
    inputs: Object.fromEntries(inputs.sort().map((p) => [p, hashFile(join(REPO_ROOT, p))])),
  };
  writeAtomic(join(dist, BUILD_INFO), `${JSON.stringify(info, null, 1)}\n`);
  return outputFiles.length;
}

export async function build(dirs, { ifStale = false } = {}) {
  const built = [];
  for (const d of dirs) {
    const dir = resolve(REPO_ROOT, d);
    const isApp = relative(REPO_ROOT, dir).startsWith('apps/');
    if (ifStale && isFresh(dir)) continue;
    const t0 = Date.now();
    const n = isApp ? await buildApp(dir) : await buildPackage(dir);
    built.push(relative(REPO_ROOT, dir));
    console.error(`built ${relative(REPO_ROOT, dir)}/dist (${n} files, ${Date.now() - t0} ms)`);
  }
  return built;
}

export const ALL = ['packages', 'apps'].flatMap((top) =>
  readdirSync(join(REPO_ROOT, top))
    .filter((n) => existsSync(join(REPO_ROOT, top, n, 'package.json')))
    .sort()
    .map((n) => `${top}/${n}`),
);

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const ifStale = args.includes('--if-stale');
  const named = args.filter((a) => a !== '--if-stale').map((a) => relative(REPO_ROOT, resolve(a)) || '.');
  try {
    await build(named.length ? named : ALL, { ifStale });
  } catch (err) {
    console.error(`build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
