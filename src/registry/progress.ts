// What a pull or push shows while it runs. On a terminal: one line per blob with its state and
// bytes, and a total, redrawn in place at most every 100 ms. Elsewhere (CI logs, pipes): one line
// per change of state, no byte counts in between. The CLI picks one with reporterFor(stream).
export type BlobState = 'exists' | 'waiting' | 'downloading' | 'storing' | 'stored' | 'mounted' | 'uploading' | 'pushed' | 'failed';

export interface Reporter {
  /** the blobs the transfer concerns, in manifest order */
  begin(title: string, blobs: { digest: string; size: number }[]): void;
  state(digest: string, state: BlobState): void;
  bytes(digest: string, n: number): void;
  end(message: string): void;
}

export const quietReporter: Reporter = { begin: () => undefined, state: () => undefined, bytes: () => undefined, end: () => undefined };

const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** One line per state change: "abcdef012345 downloading (3.4 MiB)". */
export function lineReporter(write: (line: string) => void): Reporter {
  const sizes = new Map<string, number>();
  return {
    begin: (title, blobs) => {
      blobs.forEach((b) => sizes.set(b.digest, b.size));
      write(`${title}: ${blobs.length} blob${blobs.length === 1 ? '' : 's'}, ${humanBytes(blobs.reduce((a, b) => a + b.size, 0))}`);
    },
    state: (digest, state) => write(`${short(digest)} ${state} (${humanBytes(sizes.get(digest) ?? 0)})`),
    bytes: () => undefined,
    end: (message) => write(message),
  };
}

interface Row {
  digest: string;
  size: number;
  done: number;
  state: BlobState | 'pending';
}

/** Lines redrawn in place (ANSI cursor movement), per blob and a total. */
export function terminalReporter(out: { write(s: string): unknown }): Reporter {
  let rows: Row[] = [];
  let drawn = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    timer = undefined;
    const lines = rows.map((r) => `${short(r.digest)}  ${r.state.padEnd(11)} ${humanBytes(r.done)} / ${humanBytes(r.size)}`);
    const done = rows.reduce((a, r) => a + r.done, 0);
    const total = rows.reduce((a, r) => a + r.size, 0);
    lines.push(`total         ${humanBytes(done)} / ${humanBytes(total)}`);
    out.write((drawn > 0 ? `\x1b[${drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
    drawn = lines.length;
  };
  const soon = (): void => {
    if (timer === undefined) timer = setTimeout(draw, 100).unref();
  };
  const row = (digest: string): Row | undefined => rows.find((r) => r.digest === digest);
  return {
    begin: (title, blobs) => {
      out.write(`${title}\n`);
      rows = blobs.map((b) => ({ digest: b.digest, size: b.size, done: 0, state: 'pending' }));
      draw();
    },
    state: (digest, state) => {
      const r = row(digest);
      if (r === undefined) return;
      r.state = state;
      if (state === 'exists' || state === 'stored' || state === 'mounted' || state === 'pushed') r.done = r.size;
      if (state === 'downloading' || state === 'uploading') r.done = 0;
      soon();
    },
    bytes: (digest, n) => {
      const r = row(digest);
      if (r !== undefined) r.done = Math.min(r.size, r.done + n);
      soon();
    },
    end: (message) => {
      if (timer !== undefined) clearTimeout(timer);
      draw();
      out.write(`${message}\n`);
    },
  };
}

/** The terminal display on a TTY, line output otherwise. */
export function reporterFor(out: NodeJS.WritableStream & { isTTY?: boolean }): Reporter {
  return out.isTTY === true ? terminalReporter(out) : lineReporter((l) => out.write(`${l}\n`));
}
