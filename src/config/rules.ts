/**
 * Small builders over valibot so every rule carries one human sentence of
 * what is allowed; that sentence is what users read in an error.
 * Loaded only when there is user input to check (valibot costs ~15 ms of
 * start-up, the preload's whole budget is 10 ms).
 */
import type * as V from 'valibot';
import { parseSize } from './size';

export const v: typeof V = require('valibot');

export function int(min: number, max: number, unit = '') {
  const msg = `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`;
  return v.pipe(v.number(msg), v.integer(msg), v.minValue(min, msg), v.maxValue(max, msg));
}

export function num(min: number, max: number, unit = '') {
  const msg = `a number from ${min} to ${max}${unit ? ` (${unit})` : ''}`;
  return v.pipe(v.number(msg), v.finite(msg), v.minValue(min, msg), v.maxValue(max, msg));
}

export function bool() {
  return v.boolean('true or false');
}

export function oneOf<const T extends readonly string[]>(values: T) {
  return v.picklist(values, `one of ${values.map((x) => `'${x}'`).join(', ')}`);
}

export function str(what = 'a non-empty string', maxLength = 4096) {
  return v.pipe(v.string(what), v.minLength(1, what), v.maxLength(maxLength, what));
}

/** Sizes as Redis and logrotate write them: `2gb`, `100M`, `512k`, or bytes. */
export const SIZE_RE = /^(\d+)\s*(b|k|kb|m|mb|g|gb)?$/i;
export function size(what: string, maxBytes: number) {
  // Without a ceiling, '99999999999999999999999gb' passes here and fails at the first write.
  const msg = `${what}, at most ${maxBytes / 1024 ** 3}gb`;
  return v.pipe(
    v.string(msg),
    v.regex(SIZE_RE, msg),
    v.check((s) => !SIZE_RE.test(s) || parseSize(s) <= maxBytes, msg),
  );
}

export function section<T extends V.ObjectEntries>(entries: T) {
  // strictObject reports unknown keys by name instead of dropping them.
  return v.strictObject(entries, 'an object');
}
