// Randomized differential test against the kernel: seeded random layer stacks and sequences of
// file-system calls (test/fixtures/random-ops.ts) run on mount -t overlay and on layerfs; every
// call's result, then the merged trees and the upper directories must match. A divergence is
// shrunk to a minimal case on fresh mounts and reported with its seed and a runnable repro.
//
//   LAYERFS_RANDOM_SECONDS  time budget for generating and running sequences (default 60)
//   LAYERFS_RANDOM_SEED     base seed (default fixed, so CI is reproducible); sequence 0 uses the
//                           base seed itself, so a reported sequence seed replays as the base seed
//   LAYERFS_RANDOM_SHRINK_SECONDS  time budget for shrinking a divergence (default 150)
//   LAYERFS_RANDOM_EXCLUDE  call kinds not to generate, comma-separated (e.g. removexattr), to
//                           look past a divergence already known
import t from 'tap';
import { cannotMount } from '../fixtures/mounts';
import {
  diverges, drain, genStack, reproScript, resultTable, Rng, runCase, sequenceSeed, shrink, stackText,
  type Case, type Outcome,
} from '../fixtures/random-ops';

const skip = cannotMount();

const DEFAULT_SEED = 0x1a7e2f5;
const envNumber = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, not ${v}`);
  return n;
};
const seconds = envNumber('LAYERFS_RANDOM_SECONDS', 60);
const shrinkSeconds = envNumber('LAYERFS_RANDOM_SHRINK_SECONDS', 150);
const baseSeed = envNumber('LAYERFS_RANDOM_SEED', DEFAULT_SEED) >>> 0;
const hex = (n: number): string => `0x${n.toString(16)}`;
const exclude = new Set((process.env.LAYERFS_RANDOM_EXCLUDE ?? '').split(',').map((s) => s.trim()).filter(Boolean));

// Each name of a hard-linked file is its own kernel inode under libfuse 2's path API, so
// attributes seen through another name lag by up to attr_timeout (the documented limit, also in
// write-differential.ts); with attr_timeout=0 they are exact and can be compared.
const LAYERFS_OPTIONS = ['-o', 'attr_timeout=0'];

// Modes of created files depend on the umask; fix it so runs and repros agree.
process.umask(0o022);
// The budget plus shrinking plus mounts; tell the runner (whose default is 300 s).
t.setTimeout((seconds + shrinkSeconds + 120) * 1000);

function report(c: Case, out: Outcome, original: Case, shrunk: { runs: number; complete: boolean }): string {
  return [
    `layerfs diverges from the kernel overlay: sequence seed ${hex(c.seed)} (base ${hex(baseSeed)});`,
    `replay: LAYERFS_RANDOM_SEED=${hex(c.seed)} npx tap test/integration/random-differential.ts --disable-coverage`,
    `minimal case: ${c.ops.length} calls (from ${original.ops.length}), shrunk in ${shrunk.runs} runs${shrunk.complete ? '' : ' (shrink budget ran out: may not be minimal)'}`,
    'layers:',
    stackText(c.stack),
    'calls (each on both mounts, kernel first):',
    resultTable(c, out) || '  (none: the layers alone differ)',
    ...(out.merged ? ['merged trees differ:', out.merged] : []),
    ...(out.upper ? ['upper directories differ:', out.upper] : []),
    'repro (shell + python):',
    reproScript(c.stack, c.ops),
  ].join('\n');
}

t.test('random call sequences agree with the kernel overlay', { skip }, async (t) => {
  t.teardown(drain); // every mount is gone when the test ends, whatever happened
  const start = Date.now();
  const deadline = start + seconds * 1000;
  t.comment(`base seed ${hex(baseSeed)}, budget ${seconds} s (LAYERFS_RANDOM_SEED, LAYERFS_RANDOM_SECONDS)`);
  if (exclude.size) t.comment(`not generating: ${[...exclude].join(', ')} (LAYERFS_RANDOM_EXCLUDE)`);
  let sequences = 0;
  let calls = 0;
  const seeds: string[] = [];
  for (let i = 0; i === 0 || Date.now() < deadline; i++) {
    const seed = sequenceSeed(baseSeed, i);
    const rng = new Rng(seed);
    const stack = genStack(rng);
    const c: Case = { seed, stack, ops: [] };
    seeds.push(hex(seed));
    const out = await runCase(c, { full: true, layerfsOptions: LAYERFS_OPTIONS, generate: { rng, count: rng.int(20, 60), exclude } });
    sequences++;
    calls += c.ops.length;
    if (!diverges(out)) continue;

    // Shrink: the calls after the first differing one cannot matter.
    t.comment(`sequence ${i} (seed ${hex(seed)}) diverges${out.firstDiff >= 0 ? ` at call ${out.firstDiff + 1}` : ' in the final trees'}; shrinking`);
    const cut: Case = out.firstDiff >= 0 ? { ...c, ops: c.ops.slice(0, out.firstDiff + 1) } : c;
    const fails = async (cand: Case): Promise<boolean> => diverges(await runCase(cand, { layerfsOptions: LAYERFS_OPTIONS }));
    const again = await fails(cut);
    const shrunk = again ? await shrink(cut, fails, Date.now() + shrinkSeconds * 1000) : { case: c, runs: 0, complete: false };
    const minimal = shrunk.case;
    const final = await runCase(minimal, { full: true, layerfsOptions: LAYERFS_OPTIONS });
    const msg = report(minimal, again ? final : out, c, shrunk) + (again ? '' : '\n(did not reproduce on fresh mounts: flaky; shown unshrunk)');
    t.comment(msg);
    t.fail(msg);
    break;
  }
  const secs = ((Date.now() - start) / 1000).toFixed(1);
  t.comment(`seeds: ${seeds.join(' ')}`);
  t.comment(`${sequences} sequences, ${calls} calls on each mount, ${secs} s`);
  t.ok(sequences > 0, `${sequences} sequences and ${calls} calls ran`);
});
