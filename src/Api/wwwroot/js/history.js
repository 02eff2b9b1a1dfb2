// Transaction history: the ledger newest first, filters, cursor paging, CSV export.

import { api, walletPath, query } from './api.js';
import { $, el, clear, labelCells } from './dom.js';
import { setMoney, formatDateTime, kindLabel, KIND_LABELS, exactUsd } from './format.js';
import { addDays, localStart } from './dates.js';
import { reportError, clearAlert, showAlert } from './alert.js';

const PAGE_SIZE = 50;

let ctx = { getUserId: () => null };
const state = { filters: {}, nextCursor: null, loaded: false, busy: false };

export function initHistory(context) {
  ctx = context;
  const kind = $('history-kind');
  for (const [value, label] of Object.entries(KIND_LABELS)) kind.append(el('option', { value, text: label }));
  $('history-form').addEventListener('submit', (e) => { e.preventDefault(); applyFilters(); });
  $('history-more').addEventListener('click', () => loadPage({ append: true }));
  $('history-csv').addEventListener('click', downloadCsv);
}

export const historyLoaded = () => state.loaded;

export function resetHistory() {
  state.filters = {};
  state.nextCursor = null;
  state.loaded = false;
  $('history-kind').value = '';
  $('history-from').value = '';
  $('history-to').value = '';
  clear($('history-table').tBodies[0]);
  $('history-more').hidden = true;
  $('history-end').hidden = true;
  $('history-empty').hidden = true;
}

/** Reads the form into API filters; the "to" day is included, so the bound is the next day's start. */
function readFilters() {
  const kind = $('history-kind').value;
  const from = $('history-from').value;
  const to = $('history-to').value;
  if (from && to && from > to) throw new Error('The date range starts after it ends: pick a "From" date on or before "To".');
  return {
    kind: kind || undefined,
    from: from ? localStart(from) : undefined,
    to: to ? localStart(addDays(to, 1)) : undefined,
  };
}

export function applyFilters() {
  try {
    state.filters = readFilters();
  } catch (error) {
    showAlert(error.message, 'history');
    return Promise.resolve();
  }
  return loadPage({ append: false });
}

/** Reloads the first page with the filters in force (after a top-up, on opening the view). */
export function reloadHistory() {
  return loadPage({ append: false });
}

async function loadPage({ append }) {
  if (state.busy) return;
  state.busy = true;
  const more = $('history-more');
  more.disabled = true;
  $('history-apply').disabled = true;
  $('history-table').setAttribute('aria-busy', 'true');
  try {
    const page = await api(walletPath(ctx.getUserId(), '/ledger') + query({
      ...state.filters, limit: PAGE_SIZE, cursor: append ? state.nextCursor : undefined,
    }));
    clearAlert('history');
    const body = $('history-table').tBodies[0];
    if (!append) clear(body);
    body.append(...(page.items || []).map(row));
    labelCells($('history-table'));
    state.nextCursor = page.nextCursor || null;
    state.loaded = true;
    more.hidden = !state.nextCursor;
    $('history-end').hidden = !!state.nextCursor || body.rows.length === 0;
    $('history-empty').hidden = body.rows.length > 0;
  } catch (error) {
    reportError(error, 'history');
  } finally {
    state.busy = false;
    more.disabled = false;
    $('history-apply').disabled = false;
    $('history-table').removeAttribute('aria-busy');
  }
}

function row(entry) {
  const lots = (entry.lots || []).map((l) => `${l.lotId}: ${exactUsd(l.amount)}`);
  return el('tr', { 'data-testid': 'history-row', 'data-seq': entry.seq, 'data-kind': entry.kind },
    el('td', {}, el('time', { datetime: entry.at, text: formatDateTime(entry.at) })),
    el('td', {}, el('span', { class: `badge badge-${entry.kind}`, text: kindLabel(entry.kind) })),
    el('td', { class: `num ${entry.amount < 0 ? 'neg' : 'pos'}` }, setMoney(el('span'), entry.amount, { signed: true })),
    el('td', { class: 'num' }, setMoney(el('span'), entry.balanceAfter)),
    el('td', { class: 'ref', title: entry.idempotencyKey ? `Idempotency key: ${entry.idempotencyKey}` : null, text: entry.reference || '—' }),
    el('td', { class: 'lots small', title: lots.join('\n') || null, text: lots.length ? `${lots.length} lot${lots.length > 1 ? 's' : ''}` : '—' }));
}

/** The CSV needs the Authorization header, so it is fetched and saved through a Blob link. */
async function downloadCsv() {
  const button = $('history-csv');
  let filters;
  try {
    filters = readFilters();
  } catch (error) {
    showAlert(error.message, 'history');
    return;
  }
  button.disabled = true;
  try {
    const response = await api(walletPath(ctx.getUserId(), '/ledger.csv') + query(filters), {
      raw: true, headers: { Accept: 'text/csv' },
    });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = el('a', { href: url, download: fileName(response), hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    clearAlert('history');
  } catch (error) {
    reportError(error, 'history');
  } finally {
    button.disabled = false;
  }
}

function fileName(response) {
  const disposition = response.headers.get('Content-Disposition') || '';
  const match = disposition.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  if (match) return decodeURIComponent(match[1]);
  const today = new Date().toISOString().slice(0, 10);
  return `qubrid-ledger-${ctx.getUserId()}-${today}.csv`;
}
