// The FUSE boundary's one conversion from typed errors to negative errno numbers.
import { errnoNumber, errorCode } from '../host/errors';

const EIO = -5;

/** Negative errno for anything thrown; unknown errors become -EIO (and are bugs: the caller logs them). */
export function toErrno(err: unknown): number {
  const code = errorCode(err);
  const num = code === undefined ? undefined : errnoNumber(code);
  return num === undefined ? EIO : -num;
}
