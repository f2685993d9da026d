// Field-level errors: OperationOutcome issues whose `expression` names a form field are shown next to that
// field (aria-describedby, aria-invalid); the rest go in a summary with role="alert". The first invalid
// field gets the focus.

import { h } from './dom.js';
import { issueText } from './format.js';

export function formValues(form) {
  const values = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    values[element.name] = element.type === 'checkbox' ? element.checked : element.value.trim();
  }
  return values;
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((el) => el.remove());
  form.querySelectorAll('[aria-invalid]').forEach((el) => {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/).filter((id) => id && !id.endsWith('-error'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  });
  const summary = form.querySelector('.error-summary');
  if (summary) summary.remove();
}

// errors: [{field: name | null, message: string | Node}]
export function showErrors(form, errors) {
  clearErrors(form);
  const unmatched = [];
  let first = null;
  for (const error of errors) {
    const control = error.field ? form.elements[error.field] : null;
    if (!control || !control.id) {
      unmatched.push(error.message);
      continue;
    }
    const errorId = `${control.id}-error`;
    let slot = document.getElementById(errorId);
    if (!slot) {
      slot = h('p', { class: 'field-error', id: errorId }, h('span', { class: 'visually-hidden' }, 'Error: '));
      const wrapper = control.closest('.field') || control.parentElement;
      wrapper.append(slot);
    } else {
      slot.append(' ');
    }
    slot.append(error.message);
    control.setAttribute('aria-invalid', 'true');
    const described = (control.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean);
    if (!described.includes(errorId)) control.setAttribute('aria-describedby', [...described, errorId].join(' '));
    first = first || control;
  }
  if (unmatched.length) {
    const summary = h('div', { class: 'error-summary', role: 'alert', tabindex: '-1' },
      h('h2', {}, 'There is a problem'),
      h('ul', {}, unmatched.map((m) => h('li', {}, m))));
    form.prepend(summary);
    if (!first) summary.focus();
  }
  if (first) first.focus();
}

// Issues of an ApiError -> field errors, with `fieldOf(expression)` naming the field (or null).
export function issueErrors(error, fieldOf) {
  const issues = (error && error.issues && error.issues.length) ? error.issues : [{ diagnostics: error.message || String(error) }];
  return issues
    .filter((issue) => issue.severity !== 'information' && issue.severity !== 'warning')
    .map((issue) => {
      const field = (issue.expression || []).map(fieldOf).find(Boolean) || null;
      return { field, message: issueText(issue) };
    });
}

export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}
