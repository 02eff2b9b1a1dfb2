// Webhooks panel: the user's endpoints, adding one (its secret shown once), deliveries with their status, replay.

import { api, query } from './api.js';
import { $, el, clear, labelCells } from './dom.js';
import { formatDateTime } from './format.js';
import { reportError, clearAlert, showAlert } from './alert.js';

// Every kind a user endpoint may receive (webhook_disabled goes to the admin's endpoints only).
const EVENT_KINDS = [
  'low_balance', 'balance_depleted', 'balance_recovered', 'session_terminated', 'topup_succeeded', 'topup_failed',
  'auto_topup_disabled', 'credits_expiring', 'spend_limit_warning', 'spend_limit_reached', 'hold_expired',
];

let ctx = { getUserId: () => null, isAdmin: () => false };
const state = { endpoints: [], open: null };

export function initWebhooks(context) {
  ctx = context;
  const kinds = el('fieldset', { class: 'event-kinds' }, el('legend', { text: 'Events' }),
    ...EVENT_KINDS.map((k) => el('label', { class: 'check' },
      el('input', { type: 'checkbox', name: 'webhook-event', value: k, checked: true }), ` ${k}`)));
  $('webhooks-mount').append(
    el('section', { class: 'card section', 'aria-labelledby': 'webhooks-title', 'data-testid': 'webhooks' },
      el('div', { class: 'section-head' }, el('h2', { id: 'webhooks-title', text: 'Webhooks' })),
      el('p', { class: 'muted small', text: 'Your wallet\'s events, sent to your HTTPS endpoint, signed with its secret (Qubrid-Signature), at least once and in order.' }),
      el('form', { class: 'filters', id: 'webhook-form', novalidate: true, 'aria-label': 'Add a webhook endpoint' },
        el('div', { class: 'field grow' },
          el('label', { for: 'webhook-url', text: 'Endpoint URL' }),
          el('input', { type: 'url', id: 'webhook-url', 'data-testid': 'webhook-url', placeholder: 'https://example.com/qubrid', required: true })),
        kinds,
        el('button', { type: 'submit', class: 'btn btn-primary', id: 'webhook-add', 'data-testid': 'webhook-add', text: 'Add endpoint' })),
      el('div', { class: 'secret-once', id: 'webhook-secret-box', 'data-testid': 'webhook-secret-box', role: 'status', hidden: true },
        el('p', { text: 'Signing secret — copy it now, it is not shown again:' }),
        el('code', { id: 'webhook-secret', 'data-testid': 'webhook-secret' })),
      el('div', { class: 'table-wrap' },
        el('table', { class: 'table table-stack', id: 'webhooks-table', 'data-testid': 'webhooks-table' },
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: 'URL' }), el('th', { scope: 'col', text: 'Events' }), el('th', { scope: 'col', text: 'State' }),
            el('th', { scope: 'col', text: 'Created' }), el('th', { scope: 'col', text: 'Actions' }))),
          el('tbody'))),
      el('p', { class: 'empty', id: 'webhooks-empty', hidden: true, text: 'No endpoints.' }),
      el('div', { id: 'deliveries-box', hidden: true },
        el('h3', { id: 'deliveries-title', text: 'Deliveries' }),
        el('div', { class: 'table-wrap' },
          el('table', { class: 'table table-stack', id: 'deliveries-table', 'data-testid': 'deliveries-table' },
            el('thead', {}, el('tr', {},
              el('th', { scope: 'col', text: 'Event' }), el('th', { scope: 'col', text: 'Type' }), el('th', { scope: 'col', text: 'Status' }),
              el('th', { scope: 'col', class: 'num', text: 'Attempts' }), el('th', { scope: 'col', text: 'Last attempt' }),
              el('th', { scope: 'col', text: 'Answer' }), el('th', { scope: 'col', text: '' }))),
            el('tbody'))),
        el('p', { class: 'empty', id: 'deliveries-empty', hidden: true, text: 'Nothing delivered yet.' }))));
  $('webhook-form').addEventListener('submit', (e) => { e.preventDefault(); addEndpoint(); });
}

export function resetWebhooks() {
  state.endpoints = [];
  state.open = null;
  clear($('webhooks-table').tBodies[0]);
  clear($('deliveries-table').tBodies[0]);
  $('deliveries-box').hidden = true;
  $('webhook-secret-box').hidden = true;
  $('webhook-secret').textContent = '';
  $('webhook-url').value = '';
}

export async function loadWebhooks() {
  try {
    const list = await api('/v1/webhooks');
    state.endpoints = (list.items || []).filter((w) => w.userId === ctx.getUserId());
    const body = clear($('webhooks-table').tBodies[0]);
    body.append(...state.endpoints.map(endpointRow));
    labelCells($('webhooks-table'));
    $('webhooks-empty').hidden = state.endpoints.length > 0;
    clearAlert('webhooks');
  } catch (error) {
    reportError(error, 'webhooks');
  }
}

async function addEndpoint() {
  const url = $('webhook-url').value.trim();
  const events = [...document.querySelectorAll('input[name="webhook-event"]:checked')].map((c) => c.value);
  if (!url) {
    showAlert('Enter the URL of your endpoint.', 'webhooks');
    return;
  }
  if (events.length === 0) {
    showAlert('Pick at least one event.', 'webhooks');
    return;
  }
  $('webhook-add').disabled = true;
  try {
    const body = { url, events };
    if (ctx.isAdmin()) body.userId = ctx.getUserId();
    const created = await api('/v1/webhooks', { method: 'POST', body });
    $('webhook-secret').textContent = created.secret;
    $('webhook-secret-box').hidden = false;
    $('webhook-url').value = '';
    await loadWebhooks();
  } catch (error) {
    reportError(error, 'webhooks');
  } finally {
    $('webhook-add').disabled = false;
  }
}

function endpointRow(w) {
  const actions = el('td', {});
  const deliveries = el('button', { type: 'button', class: 'btn btn-small', text: 'Deliveries', 'data-testid': 'webhook-deliveries' });
  deliveries.addEventListener('click', () => openDeliveries(w));
  actions.append(deliveries, ' ');
  if (w.state === 'disabled') {
    const enable = el('button', { type: 'button', class: 'btn btn-small', text: 'Enable' });
    enable.addEventListener('click', () => act(`/v1/webhooks/${w.id}/enable`, 'POST'));
    actions.append(enable, ' ');
  }
  const remove = el('button', { type: 'button', class: 'btn btn-small', text: 'Delete', 'aria-label': `Delete endpoint ${w.url}` });
  remove.addEventListener('click', () => {
    if (confirm(`Delete the endpoint ${w.url}? Nothing more will be sent to it.`)) act(`/v1/webhooks/${w.id}`, 'DELETE');
  });
  actions.append(remove);
  const stateText = w.state === 'disabled'
    ? `disabled${w.disabledReason ? `: ${w.disabledReason}` : ''}`
    : w.failedAttempts > 0 ? `retrying (${w.failedAttempts} failed; next ${formatDateTime(w.nextAttemptAt)})` : 'enabled';
  return el('tr', { 'data-id': w.id },
    el('td', { class: 'ref', text: w.url, title: w.url }),
    el('td', { class: 'ref', text: w.events.join(', '), title: w.events.join(', ') }),
    el('td', { text: stateText }),
    el('td', { text: formatDateTime(w.createdAt) }),
    actions);
}

async function act(path, method) {
  try {
    await api(path, { method });
    if (state.open && method === 'DELETE' && path.endsWith(state.open.id)) {
      state.open = null;
      $('deliveries-box').hidden = true;
    }
    await loadWebhooks();
  } catch (error) {
    reportError(error, 'webhooks');
  }
}

async function openDeliveries(w) {
  state.open = w;
  $('deliveries-title').textContent = `Deliveries to ${w.url}`;
  $('deliveries-box').hidden = false;
  try {
    const page = await api(`/v1/webhooks/${w.id}/deliveries${query({ limit: 50 })}`);
    const body = clear($('deliveries-table').tBodies[0]);
    body.append(...(page.items || []).map((d) => deliveryRow(w, d)));
    labelCells($('deliveries-table'));
    $('deliveries-empty').hidden = (page.items || []).length > 0;
  } catch (error) {
    reportError(error, 'webhooks');
  }
}

function deliveryRow(w, d) {
  const replay = el('button', { type: 'button', class: 'btn btn-small', text: 'Replay', 'data-testid': 'delivery-replay' });
  replay.addEventListener('click', async () => {
    replay.disabled = true;
    try {
      await api(`/v1/webhooks/${w.id}/deliveries/${d.id}/replay`, { method: 'POST' });
      await openDeliveries(w);
    } catch (error) {
      reportError(error, 'webhooks');
      replay.disabled = false;
    }
  });
  return el('tr', { 'data-delivery': String(d.id) },
    el('td', { text: d.eventId }),
    el('td', { text: d.type }),
    el('td', { 'data-testid': 'delivery-status', text: d.status }),
    el('td', { class: 'num', text: String(d.attempts) }),
    el('td', { text: formatDateTime(d.lastAttemptAt) }),
    el('td', { text: d.responseStatus ? `HTTP ${d.responseStatus}` : (d.error ?? '') }),
    el('td', {}, replay));
}
