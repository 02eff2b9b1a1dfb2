// The billing panel: balance cards, navbar balance, running sessions, lots, prices.

import { $, el, clear, labelCells } from './dom.js';
import { setMoney, formatUsd, formatUsdShort, formatRate, formatDateTime, formatDuration, workloadLabel, exactUsd } from './format.js';

export function renderWallet(wallet) {
  setMoney($('navbar-balance'), wallet.total);
  setMoney($('panel-total'), wallet.total);
  setMoney($('panel-available'), wallet.available ?? wallet.total);
  setMoney($('panel-held'), wallet.held ?? 0);
  $('navbar-balance').title = `Exact: ${exactUsd(wallet.total)} · available ${exactUsd(wallet.available ?? wallet.total)}`;
  setMoney($('panel-promotional'), wallet.promotional);
  setMoney($('panel-purchased'), wallet.purchased);
  setMoney($('panel-scoped'), wallet.scoped ?? 0);
  renderNextExpiry(wallet.nextExpiry);

  const burn = $('panel-burn-rate');
  burn.textContent = formatRate(wallet.burnRatePerHour);
  burn.title = `Exact: ${exactUsd(wallet.burnRatePerHour)} per hour`;
  burn.dataset.exact = String(wallet.burnRatePerHour);

  const runway = $('panel-runway');
  runway.textContent = wallet.runwaySeconds === null || wallet.runwaySeconds === undefined
    ? 'no running sessions'
    : formatDuration(wallet.runwaySeconds);
  runway.dataset.seconds = wallet.runwaySeconds ?? '';
  runway.title = wallet.runwaySeconds == null ? '' : 'Time until the balance runs out at the current burn rate';

  renderSessions(wallet.runningSessions || []);
}

function renderNextExpiry(next) {
  const node = clear($('panel-next-expiry'));
  if (!next) {
    node.textContent = 'none';
    node.dataset.at = '';
    return;
  }
  node.dataset.at = next.at;
  node.append(
    setMoney(el('span', { class: 'money' }), next.amount),
    ' on ',
    el('time', { datetime: next.at, text: formatDateTime(next.at) }),
  );
}

function renderSessions(sessions) {
  const rows = sessions.map((s) => el('tr', { 'data-testid': 'session-row', 'data-session-id': s.sessionId },
    el('td', { class: 'mono', text: s.sessionId }),
    el('td', { text: workloadLabel(s.workload) }),
    el('td', { text: s.instanceType }),
    el('td', { class: 'num', title: `Exact: ${exactUsd(s.usdPerHour)} per hour`, text: formatRate(s.usdPerHour) }),
    el('td', {}, el('time', { datetime: s.startedAt, text: formatDateTime(s.startedAt) })),
    el('td', { class: 'num' }, setMoney(el('span'), s.charged))));
  clear($('running-sessions').tBodies[0]).append(...rows);
  labelCells($('running-sessions'));
  $('sessions-empty').hidden = sessions.length > 0;
}

export function renderLots(lots) {
  // Live credits first (the order they are spent in), spent ones after.
  const sorted = [...lots].sort((a, b) => (b.remaining > 0) - (a.remaining > 0)
    || (a.kind === b.kind ? 0 : a.kind === 'promotional' ? -1 : 1)
    || (!a.scope === !b.scope ? 0 : a.scope ? -1 : 1)
    || String(a.expiresAt ?? '9999').localeCompare(String(b.expiresAt ?? '9999'))
    || String(a.grantedAt).localeCompare(String(b.grantedAt)));
  const rows = sorted.map((lot) => el('tr', { 'data-testid': 'lot-row', 'data-lot-id': lot.id, class: lot.remaining > 0 ? '' : 'is-spent' },
    el('td', {}, el('span', { class: `badge badge-${lot.kind}`, text: lot.kind === 'promotional' ? 'Promotional' : 'Purchased' })),
    el('td', { text: lot.source || '—' }),
    el('td', { class: 'num' }, setMoney(el('span'), lot.remaining)),
    el('td', { class: 'num' }, setMoney(el('span'), lot.amount)),
    el('td', {}, el('time', { datetime: lot.grantedAt, text: formatDateTime(lot.grantedAt) })),
    el('td', {}, lot.expiresAt
      ? el('time', { datetime: lot.expiresAt, text: formatDateTime(lot.expiresAt) })
      : 'Never'),
    el('td', { 'data-testid': 'lot-scope', class: lot.scope ? '' : 'muted', text: scopeLabel(lot.scope) })));
  clear($('lots-table').tBodies[0]).append(...rows);
  labelCells($('lots-table'));
  $('lots-empty').hidden = lots.length > 0;
}

/** A scope as the user reads it: every list given, joined ("A100, H100 · Training"); null is any usage. */
export function scopeLabel(scope) {
  if (!scope) return 'Any usage';
  const parts = [scope.instanceTypes?.join(', '), scope.models?.join(', '), scope.workloads?.map(workloadLabel).join(', ')];
  return parts.filter(Boolean).join(' · ');
}

export function renderRates(rates) {
  const rows = rates.map((r) => el('tr', { 'data-testid': 'rate-row', 'data-instance-type': r.instanceType },
    el('th', { scope: 'row', text: r.instanceType }),
    el('td', { class: 'num', title: `Exact: ${exactUsd(r.usdPerHour)} per hour`, text: formatRate(r.usdPerHour) })));
  clear($('rates-table').tBodies[0]).append(...rows);
}

export function renderModels({ items = [], premium = [] }) {
  const money = (n) => setMoney(el('span'), n);
  clear($('models-table').tBodies[0]).append(...items.map((m) => el('tr', { 'data-testid': 'model-row', 'data-model': m.model },
    el('th', { scope: 'row', text: m.model }),
    el('td', { class: 'num' }, money(m.inputUsdPerMillion)),
    el('td', { class: 'num' }, money(m.outputUsdPerMillion)))));
  labelCells($('models-table'));
  clear($('premium-table').tBodies[0]).append(...premium.map((p) => el('tr', { 'data-testid': 'premium-row' },
    el('th', { scope: 'row', text: p.name }),
    el('td', { class: 'num' }, money(p.usd)))));
  $('premium-table').closest('.table-wrap').hidden = premium.length === 0;
}

/** The "Recharge options" card: presets as shortcuts into the dialog. */
export function renderRechargeOptions(options, onPick) {
  $('recharge-options-text').textContent =
    `Add credits by card: pick a preset or enter any amount from ${formatUsd(options.min)} to ${formatUsd(options.max)}. `
    + 'Purchased credits never expire.'
    + (options.sandbox ? ' Sandbox mode: payments are simulated with test cards.' : '');
  const buttons = options.presets.map((amount) => {
    const b = el('button', { type: 'button', class: 'btn preset-quick', 'aria-haspopup': 'dialog',
      'aria-label': `Add ${formatUsd(amount)}`, 'data-testid': `quick-preset-${amount}`, text: `+ ${formatUsdShort(amount)}` });
    b.addEventListener('click', () => onPick(b, amount));
    return b;
  });
  const custom = el('button', { type: 'button', class: 'btn', 'aria-haspopup': 'dialog', text: 'Custom amount…' });
  custom.addEventListener('click', () => onPick(custom, null));
  clear($('quick-presets')).append(...buttons, custom);
}
