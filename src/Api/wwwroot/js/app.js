// Qubrid Credits billing page: sign-in, navbar, routing and the 3-second balance poll.

import { api, getKey, setKey, clearKey, setUnauthorizedHandler, walletPath } from './api.js';
import { $ } from './dom.js';
import { initAlert, showAlert, clearAlert, reportError } from './alert.js';
import { renderWallet, renderLots, renderRates, renderModels, renderRechargeOptions } from './billing.js';
import { initRecharge, openRecharge, closeRecharge, setRechargeOptions } from './recharge.js';
import { initRedeem } from './redeem.js';
import { initUsage, loadUsage, resetUsageRange } from './usage.js';
import { initHistory, applyFilters, reloadHistory, resetHistory, historyLoaded } from './history.js';
import { initSettings, loadSettings, refreshSpend, resetSettings } from './settings.js';
import { initStatements, loadStatements, resetStatements, statementsLoaded } from './statements.js';
import { initWebhooks, loadWebhooks, resetWebhooks } from './webhooks.js';

const USER_STORAGE = 'qubrid.userId';
const POLL_MS = 3000;

const app = {
  signedIn: false,
  me: null,
  userId: null,
  generation: 0,        // bumped on sign-in/out so late answers for an old session are dropped
  pollTimer: null,
  walletBusy: false,
  walletAgain: false,
  lastTotal: null,
};

const getUserId = () => app.userId;

function init() {
  initAlert();
  setUnauthorizedHandler(() => signOut(app.signedIn
    ? 'You have been signed out: the API key is no longer accepted (401). Sign in again.'
    : 'That API key was not accepted (401). Check it and try again.'));
  initRecharge({ getUserId, onSuccess: afterTopup });
  initRedeem({ getUserId, onSuccess: afterRedeem });
  initUsage({ getUserId });
  initHistory({ getUserId });
  initSettings({ getUserId, isAdmin: () => app.me?.role === 'admin' });
  initStatements({ getUserId });
  initWebhooks({ getUserId, isAdmin: () => app.me?.role === 'admin' });

  $('signin-form').addEventListener('submit', onSignin);
  $('signout').addEventListener('click', () => signOut());
  $('menu-signout').addEventListener('click', () => signOut());
  $('wallet-icon').addEventListener('click', () => openRecharge($('wallet-icon')));
  $('panel-recharge').addEventListener('click', () => openRecharge($('panel-recharge')));
  initProfileMenu();
  initRouting();
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && app.signedIn) refreshWallet();
  });

  if (getKey()) enterApp();
  else showSignin();
}

// ---- sign-in / sign-out ----

async function onSignin(event) {
  event.preventDefault();
  const key = $('signin-key').value.trim();
  if (!key) {
    showAlert('Enter your API key.', 'signin');
    $('signin-key').focus();
    return;
  }
  setKey(key);
  const requestedUser = $('signin-user').value.trim();
  if (requestedUser) sessionStorage.setItem(USER_STORAGE, requestedUser);
  else sessionStorage.removeItem(USER_STORAGE);
  $('signin-submit').disabled = true;
  try {
    await enterApp();
  } finally {
    $('signin-submit').disabled = false;
  }
}

async function enterApp() {
  let me;
  try {
    me = await api('/v1/me');
  } catch (error) {
    if (error.status !== 401) {
      forgetKey();
      showSignin();
      showAlert(`Could not sign in: ${error.detail}`, 'signin');
    }
    return;
  }

  const userId = me.userId || (me.role === 'admin' ? sessionStorage.getItem(USER_STORAGE) : null);
  if (!userId) {
    forgetKey();
    showSignin();
    showAlert(me.role === 'admin'
      ? 'This admin key is not tied to a wallet. Enter the user id of the wallet to open.'
      : `This ${me.role} key has no wallet to show. Sign in with a user key.`, 'signin');
    return;
  }

  app.generation += 1;
  app.signedIn = true;
  app.me = me;
  app.userId = userId;
  app.lastTotal = null;
  $('signin-key').value = '';
  $('menu-user').textContent = userId;
  $('menu-role').textContent = me.userId ? `${me.role} key` : `viewed with an ${me.role} key`;
  clearAlert();
  showShell();
  route({ focus: true });

  loadCatalog();
  refreshWallet();
  loadUsage();
  loadSettings();
  loadWebhooks();
  startPolling();
}

function signOut(message) {
  app.generation += 1;
  app.signedIn = false;
  app.me = null;
  app.userId = null;
  app.lastTotal = null;
  stopPolling();
  closeMenu(false);
  closeRecharge();
  forgetKey();
  resetHistory();
  resetSettings();
  resetStatements();
  resetWebhooks();
  resetUsageRange();
  $('navbar-balance').textContent = '…';
  $('navbar-balance').dataset.exact = '';
  showSignin();
  if (message) showAlert(message, 'auth');
  else clearAlert();
}

function forgetKey() {
  clearKey();
  sessionStorage.removeItem(USER_STORAGE);
}

function showSignin() {
  $('navbar').hidden = true;
  $('shell').hidden = true;
  $('signin-view').hidden = false;
  document.title = 'Sign in · Qubrid AI';
  $('signin-key').focus();
}

function showShell() {
  $('signin-view').hidden = true;
  $('navbar').hidden = false;
  $('shell').hidden = false;
}

// ---- data ----

async function refreshWallet() {
  if (!app.signedIn) return;
  if (app.walletBusy) {
    app.walletAgain = true; // e.g. a top-up landed while a poll was in flight
    return;
  }
  app.walletBusy = true;
  const generation = app.generation;
  try {
    const wallet = await api(walletPath(app.userId));
    if (generation !== app.generation) return;
    renderWallet(wallet);
    clearAlert('wallet');
    if (wallet.total !== app.lastTotal) {
      app.lastTotal = wallet.total;
      loadLots();
      refreshSpend(); // what was spent against the limits moved with the balance
    }
  } catch (error) {
    if (generation === app.generation) reportError(error, 'wallet');
  } finally {
    app.walletBusy = false;
    if (app.walletAgain) {
      app.walletAgain = false;
      refreshWallet();
    }
  }
}

async function loadLots() {
  const generation = app.generation;
  try {
    const lots = await api(walletPath(app.userId, '/lots'));
    if (generation === app.generation) renderLots(lots.items || []);
  } catch (error) {
    if (generation === app.generation) reportError(error, 'lots');
  }
}

async function loadCatalog() {
  const generation = app.generation;
  const [options, rates, models] = await Promise.allSettled([
    api('/v1/topup-options'), api('/v1/rates'), api('/v1/models'),
  ]);
  if (generation !== app.generation) return;
  if (options.status === 'fulfilled') {
    setRechargeOptions(options.value);
    renderRechargeOptions(options.value, (opener, amount) => openRecharge(opener, amount));
  } else {
    reportError(options.reason, 'catalog');
  }
  if (rates.status === 'fulfilled') renderRates(rates.value.items || []);
  else reportError(rates.reason, 'catalog');
  if (models.status === 'fulfilled') renderModels(models.value);
  else reportError(models.reason, 'catalog');
}

function startPolling() {
  stopPolling();
  app.pollTimer = setInterval(() => {
    if (!document.hidden) refreshWallet();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(app.pollTimer);
  app.pollTimer = null;
}

function afterTopup() {
  refreshWallet();
  if (historyLoaded()) reloadHistory();
  if (statementsLoaded()) loadStatements();
}

// A redeemed code: the new lot shows at once, beside the balance it moved.
function afterRedeem() {
  afterTopup();
  loadLots();
}

// ---- routing: #billing (default) and #history ----

function currentView() {
  return location.hash === '#history' ? 'history' : 'billing';
}

function route({ focus = false } = {}) {
  const view = currentView();
  for (const section of document.querySelectorAll('.view')) section.hidden = section.dataset.view !== view;
  for (const link of document.querySelectorAll('[data-route]')) {
    if (link.dataset.route === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view === 'history' ? 'Transaction history' : 'Billing'} · Qubrid AI`;
  if (view === 'history' && app.signedIn && !historyLoaded()) applyFilters();
  if (view === 'history' && app.signedIn && !statementsLoaded()) loadStatements();
  if (focus) $(view === 'history' ? 'history-title' : 'billing-title').focus({ preventScroll: false });
}

function go(view) {
  const hash = `#${view}`;
  if (location.hash === hash) route({ focus: true });
  else location.hash = hash;
}

function initRouting() {
  window.addEventListener('hashchange', () => { if (app.signedIn) route({ focus: true }); });
  for (const link of document.querySelectorAll('[data-route]')) {
    link.addEventListener('click', (event) => {
      event.preventDefault();
      go(link.dataset.route);
    });
  }
}

// ---- profile menu ----

function initProfileMenu() {
  const button = $('profile-menu');
  const popup = $('profile-menu-popup');
  button.addEventListener('click', () => (popup.hidden ? openMenu() : closeMenu(true)));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      openMenu(event.key === 'ArrowUp' ? -1 : 0);
    }
  });
  popup.addEventListener('keydown', onMenuKey);
  document.addEventListener('click', (event) => {
    if (!popup.hidden && !popup.contains(event.target) && !button.contains(event.target)) closeMenu(false);
  });
  $('menu-billings').addEventListener('click', () => {
    closeMenu(false);
    go('history');
  });
}

const menuItems = () => [...$('profile-menu-popup').querySelectorAll('[role="menuitem"]')];

function openMenu(index = 0) {
  $('profile-menu-popup').hidden = false;
  $('profile-menu').setAttribute('aria-expanded', 'true');
  menuItems().at(index)?.focus();
}

function closeMenu(focusButton) {
  $('profile-menu-popup').hidden = true;
  $('profile-menu').setAttribute('aria-expanded', 'false');
  if (focusButton) $('profile-menu').focus();
}

function onMenuKey(event) {
  const items = menuItems();
  const i = items.indexOf(document.activeElement);
  const moves = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: items.length - 1 };
  if (event.key in moves) {
    event.preventDefault();
    items[(moves[event.key] + items.length) % items.length].focus();
  } else if (event.key === 'Escape') {
    event.preventDefault();
    closeMenu(true);
  } else if (event.key === 'Tab') {
    closeMenu(false);
  }
}

init();
