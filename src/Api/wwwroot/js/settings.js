// Spend controls on the billing panel: spending limits (with this period's spend) and the auto top-up.

import { api, walletPath } from './api.js';
import { $ } from './dom.js';
import { setMoney, formatUsd } from './format.js';
import { reportError, clearAlert } from './alert.js';

const state = { getUserId: () => null, isAdmin: () => false, generation: 0 };

export function initSettings({ getUserId, isAdmin }) {
  state.getUserId = getUserId;
  state.isAdmin = isAdmin;
  $('limits-form').addEventListener('submit', saveLimits);
  $('auto-topup-form').addEventListener('submit', saveAutoTopup);
}

export function resetSettings() {
  state.generation += 1;
  for (const id of ['limit-hour', 'limit-day', 'limit-month', 'auto-threshold', 'auto-target', 'auto-cap']) $(id).value = '';
  $('auto-enabled').checked = false;
  $('auto-status').textContent = '';
  $('limits-effective').textContent = '';
}

export async function loadSettings() {
  const generation = ++state.generation;
  const userId = state.getUserId();
  try {
    const limits = await api(walletPath(userId, '/limits'));
    if (generation !== state.generation) return;
    renderLimits(limits, true);
  } catch (error) {
    if (generation === state.generation) reportError(error, 'settings');
  }
  // The auto top-up belongs to the owner: an admin viewing the wallet does not see it.
  $('auto-topup-form').hidden = state.isAdmin();
  if (state.isAdmin()) return;
  try {
    const auto = await api(walletPath(userId, '/auto-topup'));
    if (generation === state.generation) renderAutoTopup(auto, true);
  } catch (error) {
    if (generation === state.generation) reportError(error, 'settings');
  }
}

/** Refreshes the spend figures (called with the balance poll); the inputs are left as the user typed them. */
export async function refreshSpend() {
  const generation = state.generation;
  try {
    const limits = await api(walletPath(state.getUserId(), '/limits'));
    if (generation === state.generation) renderLimits(limits, false);
    if (!state.isAdmin()) {
      const auto = await api(walletPath(state.getUserId(), '/auto-topup'));
      if (generation === state.generation) renderAutoTopup(auto, false);
    }
  } catch (error) {
    if (generation === state.generation && error?.status !== 401) reportError(error, 'settings');
  }
}

function renderLimits(limits, fillInputs) {
  setMoney($('spent-hour'), limits.spent.hour);
  setMoney($('spent-day'), limits.spent.day);
  setMoney($('spent-month'), limits.spent.month);
  const mine = state.isAdmin() ? limits.admin : limits.owner;
  if (fillInputs) {
    $('limit-hour').value = mine.perHour ?? '';
    $('limit-day').value = mine.perDay ?? '';
    $('limit-month').value = mine.perMonth ?? '';
  }
  const part = (label, v) => `${label} ${v === null || v === undefined ? 'none' : formatUsd(v)}`;
  $('limits-effective').textContent = `In force (the lower of yours and the platform's): ${part('per hour', limits.perHour)}, `
    + `${part('per day', limits.perDay)}, ${part('per month', limits.perMonth)}.`;
}

function renderAutoTopup(auto, fillInputs) {
  if (fillInputs) {
    $('auto-enabled').checked = auto.enabled;
    if (auto.configured) {
      $('auto-threshold').value = auto.threshold;
      $('auto-target').value = auto.target;
      $('auto-cap').value = auto.monthlyCap;
    }
  }
  let status = auto.enabled ? 'On.' : 'Off.';
  if (auto.disabledReason) status = `Off: turned off after ${auto.consecutiveFailures} failed payments in a row. Check the card and turn it on again.`;
  else if (auto.consecutiveFailures > 0) status += ` ${auto.consecutiveFailures} failed payment(s) in a row.`;
  if (auto.inFlight) status += ' A recharge is being paid now.';
  if (auto.configured) status += ` Recharged this month: ${formatUsd(auto.spentThisMonth)} of ${formatUsd(auto.monthlyCap)}.`;
  $('auto-status').textContent = status;
}

const amount = (id) => ($(id).value.trim() === '' ? null : Number($(id).value));

async function saveLimits(event) {
  event.preventDefault();
  const userId = state.getUserId();
  $('limits-save').disabled = true;
  try {
    const limits = await api(walletPath(userId, '/limits'), {
      method: 'PUT', body: { perHour: amount('limit-hour'), perDay: amount('limit-day'), perMonth: amount('limit-month') },
    });
    renderLimits(limits, true);
    clearAlert('settings');
  } catch (error) {
    reportError(error, 'settings');
  } finally {
    $('limits-save').disabled = false;
  }
}

async function saveAutoTopup(event) {
  event.preventDefault();
  const userId = state.getUserId();
  $('auto-save').disabled = true;
  try {
    const auto = await api(walletPath(userId, '/auto-topup'), {
      method: 'PUT',
      body: {
        enabled: $('auto-enabled').checked, threshold: amount('auto-threshold'), target: amount('auto-target'),
        paymentToken: $('auto-card').value, monthlyCap: amount('auto-cap'),
      },
    });
    renderAutoTopup(auto, true);
    clearAlert('settings');
  } catch (error) {
    reportError(error, 'settings');
  } finally {
    $('auto-save').disabled = false;
  }
}
