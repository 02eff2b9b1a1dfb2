// Receipts of top-ups and monthly statements, in the transaction history view.
// The printable pages need the API key, so they are fetched and saved as files (like the CSV), not linked.

import { api, walletPath } from './api.js';
import { $, el, clear, labelCells } from './dom.js';
import { setMoney, formatDateTime, kindLabel } from './format.js';
import { reportError, clearAlert } from './alert.js';

let ctx = { getUserId: () => null };
const state = { loaded: false };

const currentMonth = () => new Date().toISOString().slice(0, 7);

/** Builds the two sections into #statements-mount. */
export function initStatements(context) {
  ctx = context;
  const mount = $('statements-mount');
  mount.append(
    el('section', { class: 'card section', 'aria-labelledby': 'receipts-title', 'data-testid': 'receipts' },
      el('div', { class: 'section-head' }, el('h2', { id: 'receipts-title', text: 'Receipts' })),
      el('p', { class: 'muted small', text: 'One receipt per successful top-up, numbered without gaps per year.' }),
      el('div', { class: 'table-wrap' },
        el('table', { class: 'table table-stack', id: 'receipts-table', 'data-testid': 'receipts-table' },
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: 'Receipt' }), el('th', { scope: 'col', text: 'Date' }), el('th', { scope: 'col', class: 'num', text: 'Amount' }),
            el('th', { scope: 'col', text: 'Paid with' }), el('th', { scope: 'col', text: 'Credit lot' }), el('th', { scope: 'col', text: 'Printable' }))),
          el('tbody'))),
      el('p', { class: 'empty', id: 'receipts-empty', hidden: true, text: 'No receipts yet: top-ups will appear here.' })),
    el('section', { class: 'card section', 'aria-labelledby': 'statement-title', 'data-testid': 'statement' },
      el('div', { class: 'section-head' }, el('h2', { id: 'statement-title', text: 'Monthly statement' })),
      el('form', { class: 'filters', id: 'statement-form', novalidate: true, 'aria-label': 'Statement month' },
        el('div', { class: 'field' },
          el('label', { for: 'statement-month', text: 'Month (UTC)' }),
          el('input', { type: 'month', id: 'statement-month', 'data-testid': 'statement-month', required: true })),
        el('button', { type: 'submit', class: 'btn', id: 'statement-show', 'data-testid': 'statement-show', text: 'Show' }),
        el('button', { type: 'button', class: 'btn', id: 'statement-csv', 'data-testid': 'statement-csv', text: 'Download CSV' }),
        el('button', { type: 'button', class: 'btn', id: 'statement-html', 'data-testid': 'statement-html', text: 'Printable page' })),
      el('div', { class: 'table-wrap' },
        el('table', { class: 'table', id: 'statement-table', 'data-testid': 'statement-table' },
          el('caption', { class: 'sr-only', text: 'Statement lines' }),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: 'Line' }), el('th', { scope: 'col', class: 'num', text: 'Entries' }), el('th', { scope: 'col', class: 'num', text: 'Amount' }))),
          el('tbody'), el('tfoot')))));
  $('statement-form').addEventListener('submit', (e) => { e.preventDefault(); loadStatement(); });
  $('statement-csv').addEventListener('click', () => download(`/statements/${month()}.csv`, 'text/csv', `qubrid-statement-${month()}.csv`));
  $('statement-html').addEventListener('click', () => download(`/statements/${month()}`, 'text/html', `qubrid-statement-${month()}.html`));
}

export const statementsLoaded = () => state.loaded;

export function resetStatements() {
  state.loaded = false;
  clear($('receipts-table').tBodies[0]);
  clear($('statement-table').tBodies[0]);
  clear($('statement-table').tFoot);
  $('receipts-empty').hidden = true;
  $('statement-month').value = '';
}

/** Receipts and this month's statement (on opening the view, after a top-up). */
export function loadStatements() {
  state.loaded = true;
  if (!$('statement-month').value) $('statement-month').value = currentMonth();
  return Promise.all([loadReceipts(), loadStatement()]);
}

const month = () => $('statement-month').value || currentMonth();

async function loadReceipts() {
  try {
    const list = await api(walletPath(ctx.getUserId(), '/receipts'));
    const items = list.items || [];
    const body = clear($('receipts-table').tBodies[0]);
    body.append(...items.map(receiptRow));
    labelCells($('receipts-table'));
    $('receipts-empty').hidden = items.length > 0;
    clearAlert('receipts');
  } catch (error) {
    reportError(error, 'receipts');
  }
}

function receiptRow(r) {
  const card = r.method?.brand ? `${r.method.brand} •••• ${r.method.last4 ?? ''}` : 'card';
  const print = el('button', { type: 'button', class: 'btn btn-small', text: 'Download', 'aria-label': `Download receipt ${r.number}` });
  print.addEventListener('click', () => download(`/receipts/${encodeURIComponent(r.number)}`, 'text/html', `qubrid-receipt-${r.number}.html`));
  return el('tr', { 'data-number': r.number },
    el('td', { text: r.number }),
    el('td', { text: formatDateTime(r.at) }),
    setMoney(el('td', { class: 'num' }), r.amount),
    el('td', { text: card }),
    el('td', { text: String(r.lotId) }),
    el('td', {}, print));
}

async function loadStatement() {
  const m = month();
  try {
    const s = await api(walletPath(ctx.getUserId(), `/statements/${m}`));
    const table = $('statement-table');
    const body = clear(table.tBodies[0]);
    body.append(el('tr', {}, el('th', { scope: 'row', text: 'Opening balance' }), el('td'), setMoney(el('td', { class: 'num' }), s.opening)));
    for (const line of s.lines || []) {
      body.append(el('tr', { 'data-kind': line.kind },
        el('td', { text: lineLabel(line) }),
        el('td', { class: 'num', text: String(line.count) }),
        setMoney(el('td', { class: `num ${line.amount < 0 ? 'neg' : 'pos'}` }), line.amount, { signed: true })));
    }
    const foot = clear(table.tFoot);
    foot.append(el('tr', {}, el('th', { scope: 'row', text: 'Closing balance' }), el('td'),
      setMoney(el('td', { class: 'num', 'data-testid': 'statement-closing' }), s.closing)));
    clearAlert('statement');
  } catch (error) {
    reportError(error, 'statement');
  }
}

function lineLabel(line) {
  if (line.kind === 'expiration') return `Expired ${line.key ?? ''} credits`.replace('  ', ' ');
  return line.key ? `${kindLabel(line.kind)}: ${line.key}` : kindLabel(line.kind);
}

/** Fetches a page with the key and saves it as a file. */
async function download(suffix, accept, fileName) {
  try {
    const response = await api(walletPath(ctx.getUserId(), suffix), { raw: true, headers: { Accept: accept } });
    const url = URL.createObjectURL(await response.blob());
    const link = el('a', { href: url, download: fileName });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (error) {
    reportError(error, 'statement');
  }
}
