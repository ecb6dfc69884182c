// Gatehouse admin page: adding and editing custom providers
// (#/custom-provider/new, #/custom-provider/edit/<name>): a generic OpenID
// Connect issuer or OAuth 2.0 server, stored with the other provider
// settings through PUT /api/users-permissions/providers. The secret is
// write-only: the page says whether one is stored, never shows it.
'use strict';

(() => {
  const A = window.gatehouseAdmin;
  const { h, byId } = A;

  const TYPES = [['oidc', 'OpenID Connect'], ['oauth2', 'OAuth 2.0']];

  // The fields of each type: [key, label, hint, required].
  const COMMON = [
    ['displayName', 'Display name', 'Shown in messages, e.g. “Email not verified by Corp SSO”.', false],
    ['key', 'Client ID', '', true],
    ['callback', 'Front-end callback URL', 'Where the browser goes after signing in; a ?callback= must match it.', true],
    ['scope', 'Scope', 'Comma-separated. Empty: openid, email, profile for OpenID Connect; none for OAuth 2.0.', false],
  ];
  const FIELDS = {
    oidc: [
      ['issuer', 'Issuer URL', 'Its /.well-known/openid-configuration gives the endpoints and the keys.', true],
      ['emailClaim', 'Email claim', 'Empty: email.', false],
      ['usernameClaim', 'Username claim', 'Empty: preferred_username, nickname, name, then the email’s local part.', false],
    ],
    oauth2: [
      ['authorizeUrl', 'Authorize URL', '', true],
      ['tokenUrl', 'Token URL', 'The client authenticates with HTTP Basic.', true],
      ['userinfoUrl', 'Userinfo URL', 'Asked with the access token; the paths below read its JSON answer.', true],
      ['idPath', 'Path to the user id', 'Dot-separated, e.g. data.id or sub.', true],
      ['emailPath', 'Path to the email', 'e.g. data.email or emails.0.value.', true],
      ['usernamePath', 'Path to the username', 'Empty: the email’s local part.', false],
      ['emailVerifiedPath', 'Path to “email verified”', 'Its value must be true. Empty: the email is never taken as verified, so it never reaches another account.', false],
    ],
  };

  let current = null; // {name, type, isNew, secret: whether one is stored}

  const fieldId = (key) => 'custom-provider-' + key;

  // showCustomProvider shows the editor of the provider called name, or
  // an empty one to add a provider when name is undefined.
  async function showCustomProvider(name) {
    const seq = A.show('custom-provider-view', 'providers');
    A.takeFlash('custom-provider', 'custom-provider-status');
    const isNew = name === undefined;
    const form = byId('custom-provider-form');
    form.setAttribute('aria-busy', 'true');
    current = null;
    byId('custom-provider-fields').replaceChildren();
    byId('custom-provider-remove').hidden = true;
    try {
      let p = { type: 'oidc', enabled: false };
      if (!isNew) {
        const { data } = await A.api('GET', A.UP + '/providers');
        if (!A.isCurrent(seq)) return;
        if (!Object.prototype.hasOwnProperty.call(data, name) || !data[name].type) throw new Error('No custom provider named ' + name + '.');
        p = data[name];
      }
      render(name, p, isNew);
    } catch (e) {
      if (A.isCurrent(seq)) A.showError('custom-provider-status', e);
    } finally {
      if (A.isCurrent(seq)) form.removeAttribute('aria-busy');
    }
  }

  function render(name, p, isNew) {
    current = { name: isNew ? '' : name, type: p.type, isNew, secret: Boolean(p.secret) };
    byId('custom-provider-title').textContent = isNew ? 'Add a provider' : (p.displayName || name);
    byId('custom-provider-meta').replaceChildren(h('span', {}, isNew
      ? 'An OpenID Connect issuer or an OAuth 2.0 server, without code. It gets the same state, PKCE, callback and verified-email checks as the built-in providers.'
      : [TYPES.find(([t]) => t === p.type)[1], ' · ', h('code', {}, name),
        p.redirectUri ? [' · redirect URL to register at the provider: ', h('code', { id: 'custom-provider-redirect' }, A.routeLabel(p.redirectUri))] : '']));
    byId('custom-provider-remove').hidden = isNew;
    const text = (key, value, required) => h('input', {
      id: fieldId(key), type: 'text', value: value || '', autocomplete: 'off', spellcheck: false, required, dataset: { field: key },
    });
    const field = ([key, label, hint, required]) => {
      const value = key === 'scope' ? (Array.isArray(p.scope) ? p.scope.join(', ') : '') : p[key];
      return h('div', { className: 'field', dataset: { for: key } },
        h('label', { htmlFor: fieldId(key) }, label + (required ? ' *' : '')),
        text(key, typeof value === 'string' ? value : '', required),
        hint ? h('p', { className: 'hint muted' }, hint) : null);
    };
    const head = [];
    if (isNew) {
      head.push(h('div', { className: 'field' },
        h('label', { htmlFor: fieldId('name') }, 'Name *'),
        h('input', { id: fieldId('name'), type: 'text', required: true, maxLength: 64, pattern: '[a-z0-9_-]{1,64}', autocomplete: 'off', spellcheck: false }),
        h('p', { className: 'hint muted' }, 'Lower-case letters, digits, - and _: it appears in /api/connect/<name>.')));
      const select = h('select', { id: fieldId('type') },
        TYPES.map(([t, label]) => h('option', { value: t, selected: t === p.type }, label)));
      select.addEventListener('change', () => {
        current.type = select.value;
        renderTypeFields({ type: select.value });
      });
      head.push(h('div', { className: 'field' }, h('label', { htmlFor: fieldId('type') }, 'Type'), select));
    }
    const secret = h('div', { className: 'field' },
      h('label', { htmlFor: fieldId('secret') }, 'Client secret'),
      h('input', {
        id: fieldId('secret'), type: 'password', value: '', autocomplete: 'new-password',
        placeholder: p.secret ? 'Stored: leave empty to keep it' : 'Not set',
      }),
      h('p', { className: 'hint muted', id: fieldId('secret-state') }, p.secret ? 'A secret is stored (never shown). A new issuer or endpoint clears it: send it again with the change.' : 'No secret is stored.'));
    const common = COMMON.map(field);
    common.splice(2, 0, secret);
    byId('custom-provider-fields').replaceChildren(h('div', { className: 'provider-grid' },
      h('label', { className: 'chip', htmlFor: fieldId('enabled') },
        h('input', { type: 'checkbox', id: fieldId('enabled'), checked: Boolean(p.enabled) }), 'Enabled'),
      head, common),
    h('div', { id: fieldId('type-fields'), className: 'provider-grid' }));
    renderTypeFields(p);

    function renderTypeFields(q) {
      const fields = FIELDS[q.type].map((f) => field(f));
      if (q.type === 'oauth2') {
        fields.splice(3, 0, h('label', { className: 'chip', htmlFor: fieldId('pkce') },
          h('input', { type: 'checkbox', id: fieldId('pkce'), checked: q.pkce !== false }), 'PKCE (S256)'));
      }
      byId(fieldId('type-fields')).replaceChildren(...fields);
    }
  }

  async function saveCustomProvider(event) {
    event.preventDefault();
    if (!current) return;
    const name = current.isNew ? byId(fieldId('name')).value.trim() : current.name;
    const entry = { type: current.type, enabled: byId(fieldId('enabled')).checked };
    for (const [key] of COMMON.concat(FIELDS[current.type])) {
      const value = byId(fieldId(key)).value.trim();
      entry[key] = key === 'scope' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
    }
    if (current.type === 'oauth2') entry.pkce = byId(fieldId('pkce')).checked;
    const secret = byId(fieldId('secret')).value;
    if (secret !== '') entry.secret = secret; // left out, the stored one stays
    if (!/^[a-z0-9_-]{1,64}$/.test(name)) {
      A.setStatus('custom-provider-status', 'error', 'The name is 1 to 64 lower-case letters, digits, - or _.');
      return;
    }
    A.setStatus('custom-provider-status', 'busy', 'Saving…');
    try {
      await A.busy([byId('custom-provider-save'), byId('custom-provider-remove')], () =>
        A.api('PUT', A.UP + '/providers', { json: { providers: { [name]: entry } } }));
      A.setFlash('custom-provider', 'ok', 'Saved ' + name + '.');
      A.go('#/custom-provider/edit/' + encodeURIComponent(name));
    } catch (e) {
      A.showError('custom-provider-status', e);
    }
  }

  async function removeCustomProvider() {
    if (!current || current.isNew) return;
    const name = current.name;
    if (!confirm('Remove the provider ' + name + '? Its users stay, but cannot sign in with it any more.')) return;
    A.setStatus('custom-provider-status', 'busy', 'Removing…');
    try {
      await A.busy([byId('custom-provider-save'), byId('custom-provider-remove')], () =>
        A.api('PUT', A.UP + '/providers', { json: { providers: { [name]: null } } }));
      A.setFlash('providers', 'ok', 'Removed ' + name + '.');
      A.go('#/providers');
    } catch (e) {
      A.showError('custom-provider-status', e);
    }
  }

  A.addRoute(/^#\/custom-provider\/new$/, () => showCustomProvider());
  A.addRoute(/^#\/custom-provider\/edit\/([a-z0-9_-]{1,64})$/, showCustomProvider);
  A.onSignOut(() => {
    current = null;
    byId('custom-provider-fields').replaceChildren();
  });
  document.addEventListener('DOMContentLoaded', () => {
    byId('custom-provider-form').addEventListener('submit', saveCustomProvider);
    byId('custom-provider-remove').addEventListener('click', removeCustomProvider);
  });
})();
