// Formatting of money, dates and durations.
// Money is shown to the cent in USD; the exact value (6 decimals) goes in a title.

const usd = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const usdSigned = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', signDisplay: 'exceptZero' });
const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const utcDay = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });
const utcDayShort = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

// Intl rounds a string operand as an exact decimal ("12.345" -> "12.35"), where the
// double 12.345 would round down. String(n) is the shortest round-trip of the JSON number.
const decimal = (n) => String(Number(n));

export const formatUsd = (n) => usd.format(decimal(n));
const usdWhole = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 0 });

/** "$25" for whole amounts (preset buttons), "$12.50" otherwise. */
export const formatUsdShort = (n) => (Number.isInteger(Number(n)) ? usdWhole.format(decimal(n)) : formatUsd(n));
export const formatUsdSigned = (n) => usdSigned.format(decimal(n));

/** "$12.345678": the value to six decimals, for titles. */
export function exactUsd(n) {
  const value = Number(n);
  const sign = value < 0 ? '-' : '';
  return `${sign}$${Math.abs(value).toFixed(6)}`;
}

// R-MONEY-5: shown to the cent; the exact 6-decimal value in the title.
/** Writes a rounded amount into an element, with the exact value on hover. */
export function setMoney(node, amount, { signed = false } = {}) {
  node.textContent = signed ? formatUsdSigned(amount) : formatUsd(amount);
  node.title = `Exact: ${exactUsd(amount)}`;
  node.dataset.exact = String(amount);
  return node;
}

export function formatRate(usdPerHour) {
  return `${formatUsd(usdPerHour)}/h`;
}

export const formatDateTime = (iso) => dateTime.format(new Date(iso));

/** A "YYYY-MM-DD" day key as a date, without shifting it into the local zone. */
export const formatDayKey = (key) => utcDay.format(new Date(`${key}T00:00:00Z`));
export const formatDayKeyShort = (key) => utcDayShort.format(new Date(`${key}T00:00:00Z`));

/** Runway and other spans: "3 d 4 h", "2 h 15 min", "12 min", "under 1 min". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  if (hours > 0) return minutes > 0 ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes > 0) return `${minutes} min`;
  return 'under 1 min';
}

export const KIND_LABELS = {
  grant: 'Promotional grant',
  topup: 'Top-up',
  session_charge: 'Instance charge',
  inference_charge: 'Inference charge',
  premium_access: 'Premium access',
  expiration: 'Expiration',
  adjustment: 'Adjustment',
  refund: 'Refund',
  grant_void: 'Grant voided',
  card_refund: 'Refund to card',
};

export const kindLabel = (kind) => KIND_LABELS[kind] ?? kind;

export const WORKLOAD_LABELS = { instance: 'Instance', training: 'Training job', notebook: 'Notebook' };
export const workloadLabel = (w) => WORKLOAD_LABELS[w ?? 'instance'] ?? w;
