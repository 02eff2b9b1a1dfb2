// Date-input values ("YYYY-MM-DD") and the ISO instants the API takes.

const pad = (n) => String(n).padStart(2, '0');

export const utcDayKey = (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

/** Adds days to a "YYYY-MM-DD" key (UTC calendar). */
export function addDays(key, days) {
  const d = new Date(`${key}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return utcDayKey(d);
}

/** Every day key from `from` to `to`, both included. */
export function daysBetween(from, to, max = 400) {
  const out = [];
  for (let k = from; k <= to && out.length < max; k = addDays(k, 1)) out.push(k);
  return out;
}

/** Start of a UTC day, as the API's ISO instant. */
export const utcStart = (key) => `${key}T00:00:00.000Z`;

/** Start of a day in the browser's time zone, as an ISO instant (UTC). */
export function localStart(key) {
  const [y, m, d] = key.split('-').map(Number);
  return new Date(y, m - 1, d).toISOString();
}
