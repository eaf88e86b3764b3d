/**
 * Argument checks of the public API. Each throws an ArgumentError whose
 * message names the argument, the value given and what is allowed, before
 * anything is touched, so a rejected call leaves no half-applied state.
 */
import { ArgumentError } from './errors';

export function checkInt(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ArgumentError(name, value, `an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`);
  }
  return value;
}

export function checkFunction<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw new ArgumentError(name, value, 'a function');
  return value as F;
}

export function checkName(name: string, value: unknown, maxLength = 100): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) {
    throw new ArgumentError(name, value, `a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

/** `undefined` becomes `{}`; anything but a plain object is refused, and so is any key not in `known`. */
export function checkOptions(name: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArgumentError(name, value, 'an options object or undefined');
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new ArgumentError(
        `${name}.${key}`,
        (value as Record<string, unknown>)[key],
        `no such option; known: ${known.join(', ')}`,
      );
  }
  return value as Record<string, unknown>;
}

export function checkNoArguments(method: string, args: readonly unknown[]): void {
  if (args.length > 0 && args.some((a) => a !== undefined)) {
    throw new ArgumentError(`${method} arguments`, args, 'no arguments');
  }
}
