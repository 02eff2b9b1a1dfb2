// Usage history: spending per day, split by instance type and model, as a chart and a table.

import { api, walletPath, query } from './api.js';
import { $, el, clear } from './dom.js';
import { setMoney, formatUsd, formatDayKey, formatDayKeyShort } from './format.js';
import { utcDayKey, addDays, daysBetween, utcStart } from './dates.js';
import { renderStackedBars, colorFor, OTHER_COLOR } from './chart.js';
import { reportError, clearAlert, showAlert } from './alert.js';

const DEFAULT_DAYS = 30;
const MAX_DAYS = 366;
const EPSILON = 0.0000005; // half a micro-credit

let ctx = { getUserId: () => null };
let last = null; // {days, series} of the last render, for redraws on resize
let lastWidth = 0;

export function initUsage(context) {
  ctx = context;
  resetUsageRange();
  $('usage-form').addEventListener('submit', (e) => { e.preventDefault(); loadUsage(); });
  const chart = $('usage-chart');
  new ResizeObserver(() => {
    const width = chart.clientWidth;
    if (last && width > 0 && Math.abs(width - lastWidth) > 4) drawChart();
  }).observe(chart);
}

export function resetUsageRange() {
  const today = utcDayKey(new Date());
  $('usage-from').value = addDays(today, -(DEFAULT_DAYS - 1));
  $('usage-to').value = today;
}

export async function loadUsage() {
  const from = $('usage-from').value;
  const to = $('usage-to').value;
  if (!from || !to) return showAlert('Choose both dates for the usage range.', 'usage');
  if (from > to) return showAlert('The usage range starts after it ends: pick a "From" date on or before "To".', 'usage');
  if (daysBetween(from, to, MAX_DAYS + 1).length > MAX_DAYS) return showAlert(`Pick a usage range of at most ${MAX_DAYS} days.`, 'usage');

  const button = $('usage-apply');
  button.disabled = true;
  $('usage-chart').setAttribute('aria-busy', 'true');
  try {
    const data = await api(walletPath(ctx.getUserId(), '/usage')
      + query({ from: utcStart(from), to: utcStart(addDays(to, 1)), groupBy: 'day' }));
    clearAlert('usage');
    render(data.items || [], from, to);
  } catch (error) {
    reportError(error, 'usage');
  } finally {
    button.disabled = false;
    $('usage-chart').removeAttribute('aria-busy');
  }
}

/** The series: instance types, then models, then "Other" for what neither split covers. */
function seriesOf(items) {
  const totals = new Map();
  const add = (key, label, group, amount) => {
    const entry = totals.get(key) || { key, label, group, total: 0 };
    entry.total += amount;
    totals.set(key, entry);
  };
  let other = 0;
  for (const item of items) {
    let split = 0;
    for (const [type, amount] of Object.entries(item.byInstanceType || {})) { add(`i:${type}`, type, 'instance', amount); split += amount; }
    for (const [model, amount] of Object.entries(item.byModel || {})) { add(`m:${model}`, model, 'model', amount); split += amount; }
    other += Math.max(0, item.amount - split);
  }
  const byTotal = (a, b) => b.total - a.total || a.label.localeCompare(b.label);
  const list = [
    ...[...totals.values()].filter((s) => s.group === 'instance').sort(byTotal),
    ...[...totals.values()].filter((s) => s.group === 'model').sort(byTotal),
  ].map((s, i) => ({ ...s, color: colorFor(i) }));
  if (other > EPSILON) list.push({ key: 'other', label: 'Other charges', group: 'other', total: other, color: OTHER_COLOR });
  return list;
}

function partsOf(item) {
  const parts = {};
  let split = 0;
  for (const [type, amount] of Object.entries(item.byInstanceType || {})) { parts[`i:${type}`] = amount; split += amount; }
  for (const [model, amount] of Object.entries(item.byModel || {})) { parts[`m:${model}`] = amount; split += amount; }
  const rest = round6(item.amount - split);
  if (rest > EPSILON) parts.other = rest;
  return parts;
}

function render(rawItems, from, to) {
  const items = rawItems
    .map((item) => ({ ...item, day: String(item.key).slice(0, 10) }))
    .sort((a, b) => a.day.localeCompare(b.day));
  const series = seriesOf(items);
  const byDay = new Map(items.map((item) => [item.day, item]));

  const days = daysBetween(from, to, MAX_DAYS).map((key) => {
    const item = byDay.get(key);
    return {
      key,
      label: formatDayKeyShort(key),
      longLabel: formatDayKey(key),
      total: item ? item.amount : 0,
      parts: item ? partsOf(item) : {},
    };
  });
  last = { days, series };
  drawChart();
  renderTable(items, series);
}

function drawChart() {
  const chart = $('usage-chart');
  lastWidth = chart.clientWidth;
  const total = last.days.reduce((sum, d) => sum + d.total, 0);
  renderStackedBars(chart, {
    days: last.days,
    series: last.series,
    formatValue: formatUsd,
    ariaLabel: `Spending per day from ${last.days[0]?.longLabel} to ${last.days.at(-1)?.longLabel}: ${formatUsd(total)} in total.`,
  });
}

function renderTable(items, series) {
  const table = $('usage-table');
  const groups = [
    ['instance', 'Instance types'],
    ['model', 'Models'],
    ['other', 'Other'],
  ].map(([group, label]) => ({ label, members: series.filter((s) => s.group === group) }))
    .filter((g) => g.members.length > 0);

  const swatch = (s) => el('span', { class: 'swatch', 'aria-hidden': 'true', 'data-color': s.color });
  clear(table.tHead).append(
    el('tr', {},
      el('th', { scope: 'col', rowspan: 2, text: 'Day' }),
      groups.map((g) => el('th', { scope: 'colgroup', colspan: g.members.length, class: 'num group', text: g.label })),
      el('th', { scope: 'col', rowspan: 2, class: 'num', text: 'Total' }),
      el('th', { scope: 'col', rowspan: 2, class: 'num', text: 'Charges' })),
    el('tr', {}, groups.flatMap((g) => g.members).map((s) => el('th', { scope: 'col', class: 'num' }, swatch(s), s.label))),
  );

  const money = (n) => setMoney(el('span'), n);
  const cells = (parts) => series.map((s) => el('td', { class: 'num' }, parts[s.key] ? money(parts[s.key]) : '—'));
  clear(table.tBodies[0]).append(...items.map((item) => el('tr', { 'data-testid': 'usage-row', 'data-day': item.day },
    el('th', { scope: 'row' }, el('time', { datetime: item.day, text: formatDayKey(item.day) })),
    cells(partsOf(item)),
    el('td', { class: 'num strong' }, money(item.amount)),
    el('td', { class: 'num', text: String(item.count ?? '') }))));

  const sum = (f) => items.reduce((acc, item) => acc + f(item), 0);
  const totals = Object.fromEntries(series.map((s) => [s.key, round6(s.total)]));
  clear(table.tFoot).append(items.length ? el('tr', {},
    el('th', { scope: 'row', text: 'Total' }),
    cells(totals),
    el('td', { class: 'num strong' }, money(round6(sum((i) => i.amount)))),
    el('td', { class: 'num', text: String(sum((i) => i.count || 0)) })) : '');

  // Swatch colours via CSSOM (the CSP forbids inline style attributes).
  for (const node of table.querySelectorAll('.swatch')) node.style.backgroundColor = node.dataset.color;
  $('usage-empty').hidden = items.length > 0;
}

const round6 = (n) => Math.round(n * 1e6) / 1e6;
