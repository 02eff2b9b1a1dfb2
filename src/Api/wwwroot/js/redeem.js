// "Redeem a code" in the recharge dialog: a promotion's code becomes promotional credits at once.

import { api, walletPath } from './api.js';
import { $ } from './dom.js';
import { formatUsd } from './format.js';

const state = { busy: false, pending: null, getUserId: () => null, onSuccess: () => {} };
const ui = {};

export function initRedeem({ getUserId, onSuccess }) {
  state.getUserId = getUserId;
  state.onSuccess = onSuccess;
  for (const id of ['redeem-form', 'redeem-code', 'redeem-submit', 'redeem-message']) ui[id] = $(id);
  // The field sits inside the recharge form: Enter redeems the code instead of paying.
  ui['redeem-submit'].addEventListener('click', redeem);
  ui['redeem-code'].addEventListener('keydown', (event) => {
    if (event.key !== 'Enter') return;
    event.preventDefault();
    redeem();
  });
  ui['redeem-code'].addEventListener('input', () => ui['redeem-code'].removeAttribute('aria-invalid'));
  $('recharge-dialog').addEventListener('close', resetRedeem); // the dialog opens afresh
}

/** Clears the field and the message. */
function resetRedeem() {
  ui['redeem-code'].value = '';
  ui['redeem-code'].removeAttribute('aria-invalid');
  state.pending = null;
  showMessage('', null);
}

async function redeem() {
  if (state.busy) return;
  const code = ui['redeem-code'].value.trim().toUpperCase();
  if (!code) {
    ui['redeem-code'].setAttribute('aria-invalid', 'true');
    showMessage('Enter a promotion code.', 'error');
    ui['redeem-code'].focus();
    return;
  }
  // A retry after a network error or a 5xx resends the same key, so the code is never redeemed twice; a 4xx answer ends the attempt.
  const key = state.pending?.code === code ? state.pending.key : crypto.randomUUID?.() ?? `redeem-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  state.pending = { code, key };
  setBusy(true);
  showMessage('Redeeming…', 'info');
  try {
    const lot = await api(walletPath(state.getUserId(), '/redemptions'), { method: 'POST', body: { code }, headers: { 'Idempotency-Key': key } });
    state.pending = null;
    ui['redeem-code'].value = '';
    const expires = new Date(lot.expiresAt).toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
    showMessage(`Code redeemed: ${formatUsd(lot.amount)} of promotional credits added, valid until ${expires}.`, 'success');
    state.onSuccess(lot);
  } catch (error) {
    if (!error.network && error.status < 500) state.pending = null;
    ui['redeem-code'].setAttribute('aria-invalid', 'true');
    showMessage(failureMessage(error), 'error');
  } finally {
    setBusy(false);
  }
}

function failureMessage(error) {
  if (error.network) return 'Network error: the code could not be confirmed. Redeem again: the same request is resent, never twice.';
  if (error.status >= 500) return `${error.detail} Redeem again: the same request is resent, never twice.`;
  const reasons = {
    promotion_not_found: 'This code is not valid.',
    already_redeemed: 'You have redeemed this promotion already.',
    promotion_exhausted: 'This code has been fully redeemed.',
    promotion_ended: 'This promotion is not running.',
    promotion_not_eligible: 'This promotion is for new accounts only.',
    rate_limited: 'Too many attempts: try again later.',
  };
  const reason = reasons[error.code];
  return reason ? `${reason} ${error.detail}` : error.detail;
}

function setBusy(busy) {
  state.busy = busy;
  ui['redeem-submit'].disabled = busy;
  ui['redeem-form'].setAttribute('aria-busy', String(busy));
}

function showMessage(text, kind) {
  const node = ui['redeem-message'];
  node.textContent = text;
  node.className = `recharge-message${kind ? ` is-${kind}` : ''}`;
}
