const SIZE_UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
};

/** Bytes from a size string such as `2gb`, `100M`, `512k` (1024-based, as Redis and logrotate read them). */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') return text;
  const m = /^(\d+)\s*(b|k|kb|m|mb|g|gb)?$/i.exec(text.trim());
  if (!m) throw new RangeError(`not a size: ${JSON.stringify(text)}`);
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()];
}
