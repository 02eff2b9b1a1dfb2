// The one way the page talks to the API: adds the key, turns problem+json into errors.

const KEY_STORAGE = 'qubrid.apiKey';

export const getKey = () => sessionStorage.getItem(KEY_STORAGE);
export const setKey = (key) => sessionStorage.setItem(KEY_STORAGE, key);
export const clearKey = () => sessionStorage.removeItem(KEY_STORAGE);

export class ApiError extends Error {
  constructor({ status, code, title, detail, network = false }) {
    super(detail || title || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail || title || `Request failed (${status})`;
    this.network = network;
  }
}

let onUnauthorized = () => {};

/** Called with the error whenever the API answers 401. */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

const REQUEST_TIMEOUT_MS = 20000;

/**
 * api('/v1/me') -> parsed JSON.
 * options: {method, body (object, sent as JSON), headers, raw (return the Response)}.
 */
export async function api(path, { method = 'GET', body, headers = {}, raw = false } = {}) {
  const key = getKey();
  const requestHeaders = { Accept: raw ? '*/*' : 'application/json', ...headers };
  if (key) requestHeaders.Authorization = `Bearer ${key}`;
  const init = { method, headers: requestHeaders, cache: 'no-store', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) };
  if (body !== undefined) {
    requestHeaders['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }

  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError({
      status: 0, code: 'network_error', title: 'Network error', network: true,
      detail: 'Could not reach the server. Check your connection and try again.',
    });
  }

  if (!response.ok) {
    const error = await problemFrom(response);
    if (response.status === 401) onUnauthorized(error);
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

async function problemFrom(response) {
  let problem = {};
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { problem = await response.json(); } catch { problem = {}; }
  }
  return new ApiError({
    status: response.status,
    code: problem.code || `http_${response.status}`,
    title: problem.title || response.statusText || 'Request failed',
    detail: problem.detail || problem.title || `The server answered ${response.status} ${response.statusText}.`.trim(),
  });
}

/** Builds "?a=1&b=2" from the non-empty entries. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const walletPath = (userId, suffix = '') => `/v1/wallets/${encodeURIComponent(userId)}${suffix}`;
