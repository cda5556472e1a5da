// Typed filesystem errors used inside layerfs: Node-style errors carrying an errno `code`.
// They become numbers only at the FUSE boundary (fuse/errno.ts).
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(constants.errno)) {
  if (!errnoNames.has(num)) errnoNames.set(num, name);
}

export class FsError extends Error {
  constructor(
    readonly code: string,
    readonly path?: string,
    detail?: string,
  ) {
    // Most are ordinary answers (a lookup that finds nothing) on the hot path: no stack trace.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}: ${detail ?? 'operation failed'}${path !== undefined ? `, '${path}'` : ''}`);
    Error.stackTraceLimit = limit;
  }
}

/** Builds the FsError for a negative errno returned by the native addon. */
export function fromErrno(negErrno: number, path?: string, syscall?: string): FsError {
  return new FsError(errnoNames.get(-negErrno) ?? 'EIO', path, syscall);
}

/** Throws when a native call returned a negative errno; returns the value otherwise. */
export function check<T>(result: T | number, path?: string, syscall?: string): T {
  if (typeof result === 'number' && result < 0) throw fromErrno(result, path, syscall);
  return result as T;
}

/** The errno code of anything thrown, or undefined for non-errno errors. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

export function errnoNumber(code: string): number | undefined {
  return (constants.errno as Record<string, number>)[code];
}

/** Runs fn and turns an ENOENT into undefined (rimraf's ignoreENOENT). */
export function ignoreENOENT<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}
