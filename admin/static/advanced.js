// Gatehouse admin page: the Advanced settings screen (#/advanced), over
// GET/PUT /api/users-permissions/advanced. Registration, email confirmation
// and its redirect, the default role of new users, unique emails and the
// reset-password link. Values are rendered as text or input values only.
'use strict';

(() => {
  const A = window.gatehouseAdmin;
  const { h, byId } = A;

  // The switches, in the order shown: [key, label, hint].
  const SWITCHES = [
    ['allow_register', 'Allow registration', 'POST /api/auth/local/register creates accounts. Off: 400 "Register action is currently disabled".'],
    ['email_confirmation', 'Confirm email addresses', 'New accounts get a confirmation email and cannot log in until they use its link.'],
    ['unique_email', 'One account per email', 'Refuse a new account (password or provider) whose email another account has.'],
  ];

  // The links, in the order shown: [key, label, hint].
  const LINKS = [
    ['email_confirmation_redirection', 'After confirming, redirect to', 'Where the confirmation link lands once the address is confirmed (empty: /).'],
    ['email_reset_password', 'Reset-password page', 'The front-end page the reset email links to, as URL?code=…; without it the email has no usable link.'],
  ];

  let loaded = null; // the settings shown, as the API answered them

  async function showAdvanced() {
    const seq = A.show('advanced-view', 'advanced');
    A.takeFlash('advanced', 'advanced-status');
    const form = byId('advanced-form');
    form.setAttribute('aria-busy', 'true');
    try {
      const { data } = await A.api('GET', A.UP + '/advanced');
      if (!A.isCurrent(seq)) return;
      render(data.settings || {}, data.roles || []);
    } catch (e) {
      if (A.isCurrent(seq)) {
        loaded = null;
        byId('advanced-fields').replaceChildren();
        A.showError('advanced-status', e);
      }
    } finally {
      if (A.isCurrent(seq)) form.removeAttribute('aria-busy');
    }
  }

  function render(settings, roles) {
    loaded = settings;
    const id = (key) => 'advanced-' + key.replace(/_/g, '-');
    const switches = SWITCHES.map(([key, label, hint]) => h('div', { className: 'switch' },
      h('label', { className: 'chip', htmlFor: id(key) },
        h('input', { type: 'checkbox', id: id(key), checked: Boolean(settings[key]), dataset: { setting: key } }), label),
      h('p', { className: 'hint muted' }, hint)));
    // Public is the role of requests without a token: never a new
    // account's role.
    const choices = roles.filter((r) => r.type !== 'public' || r.type === settings.default_role);
    const select = h('select', { id: id('default_role'), dataset: { setting: 'default_role' } },
      choices.map((r) => h('option', { value: r.type, selected: r.type === settings.default_role }, r.name + ' (' + r.type + ')')));
    const links = LINKS.map(([key, label, hint]) => h('div', { className: 'field grow' },
      h('label', { htmlFor: id(key) }, label),
      h('input', { type: 'url', id: id(key), value: settings[key] || '', placeholder: 'https://app.example.com/…', maxLength: 2048, spellcheck: false, dataset: { setting: key } }),
      h('p', { className: 'hint muted' }, hint)));
    byId('advanced-fields').replaceChildren(...[
      h('div', { className: 'switches' }, switches),
      h('div', { className: 'row' }, h('div', { className: 'field' },
        h('label', { htmlFor: id('default_role') }, 'Default role of new users'), select)),
      h('div', { className: 'row' }, links),
      settings.email_reset_password ? null
        : h('p', { id: 'advanced-reset-warning', className: 'alert warning' },
          'No reset-password page is set: password-reset emails are sent without a link to follow.'),
    ].filter(Boolean));
  }

  async function saveAdvanced(event) {
    event.preventDefault();
    if (!loaded) return;
    const body = {};
    for (const el of byId('advanced-fields').querySelectorAll('[data-setting]')) {
      const key = el.dataset.setting;
      if (el.type === 'checkbox') body[key] = el.checked;
      else if (el.tagName === 'SELECT') body[key] = el.value;
      else body[key] = el.value.trim() === '' ? null : el.value.trim();
    }
    A.setStatus('advanced-status', 'busy', 'Saving…');
    try {
      await A.busy([byId('advanced-save')], () => A.api('PUT', A.UP + '/advanced', { json: body }));
      if (location.hash !== '#/advanced') return;
      A.setFlash('advanced', 'ok', 'Saved the advanced settings.');
      await showAdvanced();
    } catch (e) {
      A.showError('advanced-status', e);
    }
  }

  A.addRoute(/^#\/advanced$/, showAdvanced);
  A.onSignOut(() => {
    loaded = null;
    byId('advanced-fields').replaceChildren();
  });
  document.addEventListener('DOMContentLoaded', () => {
    byId('advanced-form').addEventListener('submit', saveAdvanced);
  });
})();
