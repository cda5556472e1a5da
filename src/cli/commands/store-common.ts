// What the store commands (layer, image, container) share: opening the --store, tables like
// docker's, relative times, TTY-only progress.
import { Store, StoreError, storeRoot } from '../../store/store';
import type { CliDeps } from '../deps';
import { humanSize } from '../../store/sizes';
import type { Progress } from '../../store/layers';

export interface StoreArgs {
  store?: string;
  json?: boolean;
}

/** Opens the store; `write`: create it if missing (read-only commands see a missing store as empty). */
export function openStore(args: Record<string, unknown>, write: boolean): { store: Store; exists: boolean } {
  const store = new Store(storeRoot(args.store as string | undefined));
  const exists = store.check(write);
  return { store, exists };
}

/** Runs fn for each ref; a refusal is one line and the others still run. Exit 1 if any was refused. */
export async function eachRef(refs: string[], deps: CliDeps, fn: (ref: string) => Promise<void> | void): Promise<number> {
  let code = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (!(err instanceof StoreError)) throw err;
      deps.err(`layerfs: ${err.message}`);
      code = 1;
    }
  }
  return code;
}

/** A table with docker's look: upper-case headers, columns separated by at least three spaces. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3)))
      .join('')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

/** "5 seconds ago", "About a minute ago", "3 hours ago", like docker. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 1) return 'Less than a second ago';
  if (s < 60) return `${s} second${s === 1 ? '' : 's'} ago`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute ago';
  if (m < 60) return `${m} minutes ago`;
  const h = Math.round(m / 60);
  if (h === 1) return 'About an hour ago';
  if (h < 48) return `${h} hours ago`;
  const d = Math.round(h / 24);
  if (d < 14) return `${d} days ago`;
  if (d < 60) return `${Math.round(d / 7)} weeks ago`;
  if (d < 730) return `${Math.round(d / 30)} months ago`;
  return `${Math.round(d / 365)} years ago`;
}

export const shortId = (id: string): string => id.replace(/^sha256:/, '').slice(0, 12);

/** Progress on stderr, only when it is a terminal: one line rewritten in place. */
export function ttyProgress(label: string): Progress & { done(): void } {
  const tty = process.stderr.isTTY === true;
  let phase = '';
  let bytes = 0;
  let last = 0;
  const draw = (force = false): void => {
    if (!tty) return;
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    process.stderr.write(`\r\x1b[K${label}: ${phase}${bytes > 0 ? ` ${humanSize(bytes)}` : ''}`);
  };
  return {
    phase: (p) => {
      phase = p;
      bytes = 0;
      draw(true);
    },
    bytes: (n) => {
      bytes += n;
      draw();
    },
    done: () => {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}
