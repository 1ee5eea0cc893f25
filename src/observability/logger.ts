import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths the logger itself redacts, so no call site can leak a credential by accident
 * (tokens, client secrets, private keys, cookies).
 */
const REDACTED_PATHS = [
  'token',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  '*.headers.authorization',
  '*.headers.cookie',
  'clientSecret',
  '*.clientSecret',
  'privateKey',
  '*.privateKey',
  'hmacSecret',
  '*.hmacSecret',
];

/** pino's levels, most severe first, and `silent` (no output): the values of `log.level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerConfig {
  readonly level: LogLevel;
}

export function createLogger(config: LoggerConfig, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level: config.level,
    base: { service: 'gatehouse' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** A logger that drops everything: for tests that do not look at logs. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
