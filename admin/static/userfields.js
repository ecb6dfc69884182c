// Gatehouse admin page: the custom user fields (USER_FIELDS_FILE) on the
// Users screen. Each user row gets a "Fields" button opening a form below the
// row with one typed input per public custom field; Save sends only the
// changed ones with PUT /api/users/:id. Values are rendered as text and
// input values, never as HTML. app.js exposes its helpers as
// window.gatehouseAdmin and calls window.gatehouseUserFields.button(…).
'use strict';

(() => {
  let definitions = null; // promise of the public custom fields

  function publicFields() {
    const { api } = window.gatehouseAdmin;
    if (!definitions) {
      definitions = api('GET', '/api/users-permissions/user-fields')
        .then((res) => (res.data.fields || []).filter((f) => !f.private))
        .catch((e) => { definitions = null; throw e; });
    }
    return definitions;
  }

  // forget drops the cached declarations (a new sign-in may see others).
  function forget() { definitions = null; }

  // input builds the control of one field, filled with the user's value.
  function input(f, value, id) {
    const { h } = window.gatehouseAdmin;
    const common = { id, name: f.name, dataset: { field: f.name, type: f.type } };
    switch (f.type) {
      case 'boolean':
        return h('input', { ...common, type: 'checkbox', checked: value === true });
      case 'enumeration':
        return h('select', common,
          h('option', { value: '', selected: value === null || value === undefined }, '—'),
          f.values.map((v) => h('option', { value: v, selected: value === v }, v)));
      case 'text':
        return h('textarea', { ...common, rows: 3, value: value ?? '' });
      case 'json':
        return h('textarea', { ...common, rows: 3, spellcheck: false, value: value === null || value === undefined ? '' : JSON.stringify(value, null, 2) });
      case 'integer':
      case 'number':
        return h('input', { ...common, type: 'number', step: f.type === 'integer' ? '1' : 'any', value: value ?? '' });
      case 'date':
        return h('input', { ...common, type: 'date', value: value ?? '' });
      case 'email':
        return h('input', { ...common, type: 'email', value: value ?? '', maxLength: f.maxLength || 255 });
      default: // string, datetime (RFC 3339 text: no time-zone guessing)
        return h('input', { ...common, type: 'text', value: value ?? '', maxLength: f.type === 'datetime' ? 40 : (f.maxLength || 255), placeholder: f.type === 'datetime' ? '2024-01-31T12:00:00Z' : '' });
    }
  }

  // read returns the control's value as the API wants it; an empty control
  // is null. A json textarea that does not parse throws.
  function read(control, f) {
    if (f.type === 'boolean') return control.checked;
    const raw = control.value;
    if (raw.trim() === '') return null;
    switch (f.type) {
      case 'integer':
      case 'number':
        return Number(raw);
      case 'json':
        try {
          return JSON.parse(raw);
        } catch (e) {
          throw new Error(f.name + ' is not valid JSON: ' + e.message);
        }
    }
    return raw;
  }

  // openForm shows the form of the user below row (a second click closes it).
  async function openForm(row, u, reload) {
    const { h, setStatus, showError } = window.gatehouseAdmin;
    const next = row.nextElementSibling;
    if (next && next.classList.contains('user-fields-row')) {
      next.remove();
      return;
    }
    // The list reads a few columns only: the form reads the user whole.
    let fields;
    try {
      fields = await publicFields();
      u = (await window.gatehouseAdmin.api('GET', '/api/users/' + encodeURIComponent(String(u.id)))).data;
    } catch (e) {
      showError('users-status', e);
      return;
    }
    if (row.nextElementSibling && row.nextElementSibling.classList.contains('user-fields-row')) return; // opened twice
    const status = h('div', { className: 'status', role: 'status' });
    const controls = fields.map((f) => [f, input(f, u[f.name], 'user-' + u.id + '-field-' + f.name)]);
    const save = h('button', { type: 'submit', className: 'button small' }, 'Save fields');
    const form = h('form', {
      className: 'user-fields',
      ariaLabel: 'Custom fields of ' + u.username,
      on: {
        submit: async (event) => {
          event.preventDefault();
          const body = {};
          try {
            for (const [f, control] of controls) {
              const value = read(control, f);
              if (JSON.stringify(value) !== JSON.stringify(u[f.name] ?? (f.type === 'boolean' ? false : null))) body[f.name] = value;
            }
          } catch (e) {
            showError('users-status', e);
            return;
          }
          if (!Object.keys(body).length) {
            setStatus('users-status', 'ok', 'Nothing changed for ' + u.username + '.');
            return;
          }
          await reload(row, u, body, 'Saved the fields of ' + u.username + '.');
        },
      },
    },
    h('div', { className: 'user-fields-grid' }, controls.map(([f, control]) =>
      h('div', { className: 'field' + (f.type === 'boolean' ? ' check' : '') },
        h('label', { htmlFor: control.id }, f.name + (f.required ? ' *' : ''), h('span', { className: 'muted' }, ' ' + f.type)),
        control))),
    status,
    h('div', { className: 'actions left' }, save));
    row.after(h('tr', { className: 'user-fields-row' }, h('td', { colSpan: 6 }, form)));
  }

  // button returns the "Fields" button of a user row, hidden until the
  // declarations say there are public custom fields. reload(row, u, body,
  // message) is app.js's changeUser: PUT, message, list again.
  function button(row, u, reload) {
    const { h } = window.gatehouseAdmin;
    const b = h('button', {
      type: 'button', className: 'button secondary small', hidden: true, dataset: { action: 'fields' },
      on: { click: () => openForm(row, u, reload) },
    }, 'Fields');
    publicFields().then((fields) => { b.hidden = fields.length === 0; }).catch(() => {});
    return b;
  }

  window.gatehouseUserFields = { button, forget };
})();
