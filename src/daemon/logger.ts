// The one root logger (pino): quiet by default, JSON lines with stable fields (docs/logging.md).
import type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A logger writing synchronously to fd (2 by default), so nothing is lost when the daemon exits. */
export function createLogger(level: LogLevel = 'warn', fd = 2): Logger {
  // Loaded here, by the daemon only: the commands that never log start without it.
  const { pino } = require('pino') as typeof import('pino');
  return pino({ level, base: { pid: process.pid } }, pino.destination({ fd, sync: true }));
}
