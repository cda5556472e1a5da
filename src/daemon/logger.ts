// The one root logger (pino): quiet by default, JSON lines with stable fields (docs/logging.md).
import pino, { type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A logger writing synchronously to fd (2 by default), so nothing is lost when the daemon exits. */
export function createLogger(level: LogLevel = 'warn', fd = 2): Logger {
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}
