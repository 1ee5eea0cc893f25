import { JsonText, type HostBuiltin } from '../opa-wasm-abi.js';
import type { DecisionClock } from './decision-clock.js';

/**
 * OPA's time builtins that the WebAssembly target leaves to the host. Times are integer
 * nanoseconds since the Unix epoch, returned as exact JSON integers (they exceed 2^53).
 */
export function timeBuiltins(clock: DecisionClock): Array<[string, HostBuiltin]> {
  return [
    ['time.now_ns', () => new JsonText(clock.nowNsExact().toString())],
    [
      'time.parse_rfc3339_ns',
      (value) => {
        if (typeof value !== 'string') throw new TypeError('the time must be a string');
        return new JsonText(parseRfc3339Ns(value).toString());
      },
    ],
    [
      'time.parse_duration_ns',
      (value) => {
        if (typeof value !== 'string') throw new TypeError('the duration must be a string');
        return new JsonText(parseDurationNs(value).toString());
      },
    ],
  ];
}

// RFC 3339 section 5.6 date-time, with the fraction kept to the nanosecond.
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

export function parseRfc3339Ns(text: string): bigint {
  const match = RFC3339.exec(text);
  if (match === null) throw new Error(`not an RFC 3339 time: ${text}`);
  const [, year, month, day, hour, minute, second, fraction = '', zone = 'Z'] = match;
  const ms = Date.UTC(
    Number(year),
    Number(month) - 1,
    Number(day),
    Number(hour),
    Number(minute),
    Number(second),
  );
  if (Number.isNaN(ms)) throw new Error(`not an RFC 3339 time: ${text}`);
  let offsetMinutes = 0;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const nanos = BigInt(fraction.padEnd(9, '0') || '0');
  return (BigInt(ms) - BigInt(offsetMinutes) * 60_000n) * 1_000_000n + nanos;
}

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go's duration syntax (time.ParseDuration), which OPA uses: "1h30m", "-1.5s", "300ms". */
export function parseDurationNs(text: string): bigint {
  const match = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$/.exec(text);
  if (match === null) {
    if (text === '0' || text === '+0' || text === '-0') return 0n;
    throw new Error(`not a duration: ${text}`);
  }
  let total = 0;
  for (const part of text
    .replace(/^[+-]/, '')
    .matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNIT_NS[part[2] ?? ''] ?? 0);
  }
  return BigInt(Math.round(match[1] === '-' ? -total : total));
}
