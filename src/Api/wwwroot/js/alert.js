// The page's visible alert region (role="alert") for API errors and sign-out notices.

import { $ } from './dom.js';

let source = null;

/** from: who raised it, so that the same caller can clear it when things recover. */
export function showAlert(message, from = 'general') {
  source = from;
  $('alert').textContent = message;
  $('alert-bar').hidden = false;
}

export function clearAlert(from) {
  if (from && from !== source) return;
  source = null;
  $('alert').textContent = '';
  $('alert-bar').hidden = true;
}

/** Shows an API error; 401s are handled by signing out, which brings its own message. */
export function reportError(error, from = 'general') {
  if (error?.status === 401) return;
  showAlert(error?.detail || String(error), from);
}

export function initAlert() {
  $('alert-dismiss').addEventListener('click', () => clearAlert());
}
