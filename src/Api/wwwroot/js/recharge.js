// The recharge dialog: amount, card form mapped to sandbox tokens, top-up call.

import { api, walletPath } from './api.js';
import { $, el, clear } from './dom.js';
import { formatUsd, formatUsdShort } from './format.js';

// The sandbox gateway's test cards. Any other number is refused here, before the API.
const KNOWN_CARDS = {
  '4242424242424242': 'tok_visa',
  '4000000000000002': 'tok_chargeDeclined',
  '4000000000000119': 'tok_processingError',
};

const state = {
  options: { presets: [], min: 5, max: 10000, sandbox: false, testCards: [] },
  cards: { ...KNOWN_CARDS },
  preset: null,      // the chosen preset amount, or null when a custom amount is typed
  pending: null,     // {key, body} of an attempt that hit a network error, for "Retry"
  busy: false,
  opener: null,
  getUserId: () => null,
  onSuccess: () => {},
};

const ui = {};

export function initRecharge({ getUserId, onSuccess }) {
  state.getUserId = getUserId;
  state.onSuccess = onSuccess;
  for (const id of ['recharge-dialog', 'recharge-form', 'presets', 'custom-amount', 'custom-amount-hint', 'card-number',
    'card-expiry', 'card-cvc', 'sandbox-cards', 'test-cards', 'recharge-message', 'recharge-retry', 'recharge-submit',
    'recharge-close']) ui[id] = $(id);

  ui['recharge-form'].addEventListener('submit', onSubmit);
  ui['recharge-retry'].addEventListener('click', () => state.pending && attempt(state.pending));
  ui['recharge-close'].addEventListener('click', closeRecharge);
  ui['recharge-dialog'].addEventListener('close', restoreFocus);
  // A click on the backdrop lands on the dialog element itself.
  ui['recharge-dialog'].addEventListener('click', (e) => { if (e.target === ui['recharge-dialog']) closeRecharge(); });
  ui['custom-amount'].addEventListener('input', () => {
    if (ui['custom-amount'].value !== '') selectPreset(null);
    inputsChanged();
  });
  for (const id of ['card-number', 'card-expiry', 'card-cvc']) ui[id].addEventListener('input', inputsChanged);
  setRechargeOptions(state.options);
}

export function setRechargeOptions(options) {
  state.options = { ...state.options, ...options };
  const { presets, min, max, sandbox, testCards } = state.options;

  clear(ui.presets).append(...presets.map((amount) => el('button', {
    type: 'button', class: 'preset', 'data-testid': `preset-${amount}`, 'aria-pressed': 'false',
    dataset: { amount: String(amount) }, text: formatUsdShort(amount),
  })));
  for (const button of ui.presets.querySelectorAll('button')) {
    button.addEventListener('click', () => {
      selectPreset(Number(button.dataset.amount));
      ui['custom-amount'].value = '';
      inputsChanged();
    });
  }

  ui['custom-amount'].min = String(min);
  ui['custom-amount'].max = String(max);
  ui['custom-amount'].placeholder = `${min}–${max}`;
  ui['custom-amount-hint'].textContent = `Or enter any amount from ${formatUsd(min)} to ${formatUsd(max)}, to the cent.`;

  state.cards = { ...KNOWN_CARDS };
  for (const card of testCards || []) state.cards[digits(card.number)] = card.token;
  renderTestCards(sandbox ? testCards || [] : []);
  ui['sandbox-cards'].hidden = !sandbox;
  updateSubmitLabel();
}

function renderTestCards(cards) {
  const rows = cards.map((card) => {
    const use = el('button', { type: 'button', class: 'btn btn-small', 'aria-label': `Use ${card.label} test card`, text: 'Use' });
    use.addEventListener('click', () => {
      ui['card-number'].value = card.number;
      if (!ui['card-expiry'].value) ui['card-expiry'].value = futureExpiry();
      if (!ui['card-cvc'].value) ui['card-cvc'].value = '123';
      inputsChanged();
      ui['card-number'].focus();
    });
    return el('li', { 'data-token': card.token },
      el('span', { class: 'test-card-text' },
        el('span', { class: 'test-card-label', text: `${card.label}: ${card.outcome}` }),
        el('span', { class: 'mono', text: card.number })),
      use);
  });
  clear(ui['test-cards']).append(...rows);
}

export function openRecharge(opener, amount = null) {
  const dialog = ui['recharge-dialog'];
  state.opener = opener || document.activeElement;
  resetForm();
  if (amount !== null && state.options.presets.includes(amount)) selectPreset(amount);
  else if (amount !== null) ui['custom-amount'].value = String(amount);
  updateSubmitLabel();
  if (!dialog.open) dialog.showModal();
  const first = ui.presets.querySelector('[aria-pressed="true"]') || ui.presets.querySelector('button') || ui['custom-amount'];
  first.focus();
}

export function closeRecharge() {
  if (ui['recharge-dialog'].open) ui['recharge-dialog'].close();
}

function restoreFocus() {
  const opener = state.opener;
  state.opener = null;
  if (opener && document.contains(opener) && typeof opener.focus === 'function') opener.focus();
}

function resetForm() {
  selectPreset(null);
  ui['custom-amount'].value = '';
  ui['card-number'].value = '';
  ui['card-expiry'].value = '';
  ui['card-cvc'].value = '';
  state.pending = null;
  ui['recharge-retry'].hidden = true;
  showMessage('', null);
  for (const id of ['custom-amount', 'card-number', 'card-expiry', 'card-cvc']) ui[id].removeAttribute('aria-invalid');
}

function selectPreset(amount) {
  state.preset = amount;
  for (const button of ui.presets.querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.amount) === amount));
  }
  updateSubmitLabel();
}

function inputsChanged() {
  // A retry must resend exactly the request that failed; new inputs make a new attempt.
  if (state.pending) {
    state.pending = null;
    ui['recharge-retry'].hidden = true;
  }
  updateSubmitLabel();
}

function updateSubmitLabel() {
  const { amount } = readAmount();
  ui['recharge-submit'].textContent = amount ? `Pay ${formatUsd(amount)}` : 'Pay';
}

function readAmount() {
  const { min, max } = state.options;
  const input = ui['custom-amount'];
  if (input.value === '' && !input.validity.badInput) {
    if (state.preset !== null) return { amount: state.preset };
    return { error: 'Choose an amount: pick a preset or enter a custom amount.', field: ui.presets.querySelector('button') || input };
  }
  const text = input.value.trim();
  if (input.validity.badInput || !/^\d+(\.\d{1,2})?$/.test(text)) {
    return { error: 'Enter the amount in dollars, to the cent (for example 42.50).', field: input };
  }
  const amount = Number(text);
  if (amount < min || amount > max) {
    return { error: `The amount must be between ${formatUsd(min)} and ${formatUsd(max)}.`, field: input };
  }
  return { amount };
}

const digits = (s) => String(s).replace(/[\s-]/g, '');

function readCard() {
  const number = digits(ui['card-number'].value);
  if (!/^\d{12,19}$/.test(number)) return { error: 'Enter the card number.', field: ui['card-number'] };
  const token = state.cards[number];
  if (!token) {
    return {
      error: state.options.sandbox
        ? 'This card is not accepted in the sandbox. Use one of the test cards listed below.'
        : 'This card number is not accepted.',
      field: ui['card-number'],
    };
  }
  const expiry = ui['card-expiry'].value.trim().match(/^(\d{1,2})\s*\/?\s*(\d{2}|\d{4})$/);
  if (!expiry) return { error: 'Enter the expiry date as MM/YY.', field: ui['card-expiry'] };
  const month = Number(expiry[1]);
  const year = expiry[2].length === 2 ? 2000 + Number(expiry[2]) : Number(expiry[2]);
  if (month < 1 || month > 12) return { error: 'The expiry month must be 01 to 12.', field: ui['card-expiry'] };
  if (new Date(year, month, 1) <= new Date()) return { error: 'This card has expired.', field: ui['card-expiry'] };
  if (!/^\d{3,4}$/.test(ui['card-cvc'].value.trim())) return { error: 'Enter the 3- or 4-digit CVC.', field: ui['card-cvc'] };
  return { token };
}

function futureExpiry() {
  const d = new Date();
  return `12/${String((d.getFullYear() + 3) % 100).padStart(2, '0')}`;
}

function invalid(field, message) {
  for (const id of ['custom-amount', 'card-number', 'card-expiry', 'card-cvc']) ui[id].removeAttribute('aria-invalid');
  if (field && field.tagName === 'INPUT') field.setAttribute('aria-invalid', 'true');
  showMessage(message, 'error');
  field?.focus();
}

function onSubmit(event) {
  event.preventDefault();
  if (state.busy) return;
  const amount = readAmount();
  if (amount.error) return invalid(amount.field, amount.error);
  const card = readCard();
  if (card.error) return invalid(card.field, card.error);
  invalid(null, '');
  // A fresh key per attempt; only "Retry" after a network error reuses one.
  attempt({ key: newIdempotencyKey(), body: { amount: amount.amount, paymentToken: card.token } });
}

async function attempt(request) {
  setBusy(true);
  state.pending = null;
  ui['recharge-retry'].hidden = true;
  showMessage(`Processing payment of ${formatUsd(request.body.amount)}…`, 'info');
  try {
    const result = await api(walletPath(state.getUserId(), '/topups'), {
      method: 'POST', body: request.body, headers: { 'Idempotency-Key': request.key },
    });
    showMessage(`Payment succeeded: ${formatUsd(result.amount)} added to your wallet.`, 'success');
    ui['card-number'].value = '';
    ui['card-expiry'].value = '';
    ui['card-cvc'].value = '';
    state.onSuccess(result);
  } catch (error) {
    showMessage(failureMessage(error), 'error');
    if (error.network) {
      state.pending = request;
      ui['recharge-retry'].hidden = false;
      ui['recharge-retry'].focus();
    }
  } finally {
    setBusy(false);
  }
}

function failureMessage(error) {
  if (error.network) {
    return 'Network error: the payment could not be confirmed. "Retry payment" resends the same request, so you will not be charged twice.';
  }
  if (error.code === 'payment_declined' || error.status === 402) return `Payment declined: ${error.detail} No credits were added.`;
  if (error.code === 'payment_failed' || error.status === 502) return `Payment failed: ${error.detail} No credits were added.`;
  return error.detail;
}

function setBusy(busy) {
  state.busy = busy;
  ui['recharge-submit'].disabled = busy;
  ui['recharge-retry'].disabled = busy;
  ui['recharge-form'].setAttribute('aria-busy', String(busy));
}

function showMessage(text, kind) {
  const node = ui['recharge-message'];
  node.textContent = text;
  node.className = `recharge-message${kind ? ` is-${kind}` : ''}`;
}

function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
