const UNIT = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 } as const;
const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i;

/** Parses `512M`, `2G`, `1.5GiB`; binary units, as QEMU and Docker read them. Null when malformed. */
export function parseSize(text: string | number): number | null {
  if (typeof text === "number") return Number.isFinite(text) && text > 0 ? Math.floor(text) : null;
  const match = SIZE.exec(text.trim());
  if (!match) return null;
  const unit = (match[2] ?? "").toUpperCase() as keyof typeof UNIT;
  const bytes = Math.floor(Number(match[1]) * UNIT[unit]);
  return bytes > 0 ? bytes : null;
}

export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
