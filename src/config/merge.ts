export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;
}

/** A fresh deep copy of `base` with `over` merged in; arrays and scalars replace, objects merge. */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) {
    return (over === undefined ? clone(base) : clone(over)) as T;
  }
  const out: Record<string, unknown> = clone(base) as Record<string, unknown>;
  for (const [k, val] of Object.entries(over)) {
    if (val === undefined || k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    out[k] = k in out ? deepMerge(out[k], val) : clone(val);
  }
  return out as T;
}

export function clone<T>(x: T): T {
  if (Array.isArray(x)) {
    // An index loop, not map(): map consults x.constructor, which a hostile array can own.
    const out: unknown[] = [];
    for (let i = 0; i < x.length; i++) out.push(clone(x[i]));
    return out as T;
  }
  if (isPlainObject(x)) {
    const out: Record<string, unknown> = {};
    // An own `__proto__` (JSON.parse makes one) assigned here would replace the prototype instead.
    for (const [k, val] of Object.entries(x)) if (k !== '__proto__') out[k] = clone(val);
    return out as T;
  }
  return x;
}

export function deepFreeze<T>(x: T): T {
  if (typeof x === 'object' && x !== null) {
    for (const val of Object.values(x)) deepFreeze(val);
    Object.freeze(x);
  }
  return x;
}

// Walking or assigning through these reaches Object.prototype: a path naming one is never followed.
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function getAt(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) {
    if (!isPlainObject(cur) && !Array.isArray(cur)) return undefined;
    if (!Object.hasOwn(cur, k)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** Sets (or with `undefined`, deletes) the value at `path`, creating objects on the way. */
export function setAt(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  if (path.some((k) => PROTOTYPE_KEYS.has(k))) return;
  let cur: Record<string, unknown> = obj;
  for (const k of path.slice(0, -1)) {
    if (!isPlainObject(cur[k]) && !Array.isArray(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = clone(value);
}
