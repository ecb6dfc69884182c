// Gatehouse admin page. Plain JavaScript, no build step.
//
// Everything goes through the admin API with the token from POST
// /api/auth/local, kept in sessionStorage (gone with the tab) and sent as
// "Authorization: Bearer". Every value from the API is rendered as text
// (textContent, text nodes), never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'gatehouse.admin.jwt';
  const USER_KEY = 'gatehouse.admin.user';
  const UP = '/api/users-permissions';

  const byId = (id) => document.getElementById(id);

  // h builds an element. props are DOM properties (className, type, value,
  // checked, htmlFor, href…), "dataset" and "on" (event listeners); children
  // are nodes or strings, and strings become text nodes.
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
      else node[key] = value;
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ---- API ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, name, message, details) {
      super(message);
      this.status = status;
      this.name = name || 'Error';
      this.details = details;
    }
  }

  // api calls Gatehouse and returns {data, headers}; a non-2xx answer throws
  // an ApiError with the envelope's error.message.
  async function api(method, path, { json, csv, accept = 'application/json', auth = true } = {}) {
    const headers = { Accept: accept };
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (csv !== undefined) {
      headers['Content-Type'] = 'text/csv';
      body = csv;
    }
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (auth && token) headers.Authorization = 'Bearer ' + token;
    let res;
    try {
      res = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (err) {
      throw new ApiError(0, 'NetworkError', 'Cannot reach Gatehouse (' + err.message + ')');
    }
    const text = await res.text();
    let data = text;
    if ((res.headers.get('Content-Type') || '').includes('json') && text !== '') {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    if (!res.ok) {
      const e = data && typeof data === 'object' && data.error ? data.error : {};
      const err = new ApiError(res.status, e.name, e.message || res.status + ' ' + res.statusText, e.details);
      if (res.status === 401 && auth && token) signOut('Your session has ended: log in again.');
      throw err;
    }
    return { data, headers: res.headers };
  }

  // ---- status lines -----------------------------------------------------------

  // setStatus shows a message in a status element: kind is "ok", "error",
  // "busy" or "info"; an empty message clears it.
  function setStatus(id, kind, message) {
    const el = byId(id);
    el.replaceChildren();
    el.className = 'status';
    if (!message) return;
    el.classList.add('alert', kind);
    el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    el.append(h('span', { className: 'status-text' }, message));
  }

  function showError(id, err) {
    setStatus(id, 'error', err instanceof ApiError ? err.message : String(err && err.message ? err.message : err));
  }

  // busy disables the buttons while a request runs.
  async function busy(buttons, fn) {
    for (const b of buttons) b.disabled = true;
    try {
      return await fn();
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  // ---- views and navigation -----------------------------------------------------

  let viewSeq = 0; // bumped on every navigation: late answers of a left view are dropped
  let flash = null; // {view, kind, message} shown once by the next view

  function show(viewId, tab) {
    for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== viewId;
    const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
    byId('nav').hidden = !signedIn;
    byId('session').hidden = !signedIn;
    byId('session-user').textContent = sessionStorage.getItem(USER_KEY) || '';
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.tab === tab) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    return ++viewSeq;
  }

  function takeFlash(view, statusId) {
    if (flash && flash.view === view) {
      setStatus(statusId, flash.kind, flash.message);
    } else {
      setStatus(statusId, '', '');
    }
    flash = null;
  }

  function route() {
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      showLogin();
      return;
    }
    const hash = location.hash;
    const m = /^#\/roles\/(\d+)$/.exec(hash);
    if (m) showRole(m[1]);
    else if (hash === '#/policy') showPolicy();
    else showRoles();
  }

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ---- login ----------------------------------------------------------------

  let loginMessage = '';

  function showLogin() {
    show('login-view', '');
    const err = byId('login-error');
    err.textContent = loginMessage;
    err.hidden = !loginMessage;
    loginMessage = '';
    byId('login-identifier').focus();
  }

  async function login(event) {
    event.preventDefault();
    const err = byId('login-error');
    err.hidden = true;
    const identifier = byId('login-identifier').value.trim();
    const password = byId('login-password').value;
    try {
      const { data } = await busy([byId('login-submit')], () =>
        api('POST', '/api/auth/local', { json: { identifier, password }, auth: false }));
      sessionStorage.setItem(TOKEN_KEY, data.jwt);
      sessionStorage.setItem(USER_KEY, data.user && (data.user.username || data.user.email) || identifier);
      byId('login-password').value = '';
      go(location.hash && location.hash !== '#/' ? location.hash : '#/roles');
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  }

  // signOut forgets the token and everything shown, then shows the login form.
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    byId('roles-body').replaceChildren();
    byId('role-permissions').replaceChildren();
    byId('policy-csv').value = '';
    byId('policy-changes').replaceChildren();
    byId('check-result').replaceChildren();
    policyDirty = false;
    loginMessage = message || '';
    showLogin();
  }

  // ---- roles list -------------------------------------------------------------

  async function showRoles() {
    const seq = show('roles-view', 'roles');
    const table = byId('roles-table');
    table.setAttribute('aria-busy', 'true');
    takeFlash('roles', 'roles-status');
    try {
      const { data } = await api('GET', UP + '/roles');
      if (seq !== viewSeq) return;
      byId('roles-body').replaceChildren(...data.roles.map(roleRow));
    } catch (e) {
      if (seq === viewSeq) showError('roles-status', e);
    } finally {
      if (seq === viewSeq) table.removeAttribute('aria-busy');
    }
  }

  function roleRow(r) {
    return h('tr', { dataset: { roleType: r.type, roleId: String(r.id) } },
      h('td', {}, h('a', { href: '#/roles/' + encodeURIComponent(String(r.id)), className: 'role-link' }, r.name)),
      h('td', { className: 'muted' }, r.description || ''),
      h('td', {}, h('code', {}, r.type)),
      h('td', { className: 'num' }, String(r.nb_users)),
      h('td', {}, r.inherits && r.inherits.length ? r.inherits.map((t) => h('code', { className: 'tag' }, t)) : h('span', { className: 'muted' }, '—')));
  }

  async function createRole(event) {
    event.preventDefault();
    const name = byId('create-role-name').value.trim();
    const description = byId('create-role-description').value;
    setStatus('create-role-status', 'busy', 'Creating…');
    try {
      await busy([byId('create-role-submit')], () =>
        api('POST', UP + '/roles', { json: description ? { name, description } : { name } }));
      byId('create-role-form').reset();
      setStatus('create-role-status', 'ok', 'Created the role ' + name + '.');
      showRoles();
    } catch (e) {
      showError('create-role-status', e);
    }
  }

  // ---- role editor ----------------------------------------------------------------

  let currentRole = null;
  let routesByFunction = null; // function name → ["GET /api/users", …]

  async function loadRoutes() {
    if (routesByFunction) return routesByFunction;
    const { data } = await api('GET', UP + '/routes');
    const out = {};
    for (const list of Object.values(data.routes || {})) {
      for (const r of list) (out[r.action] = out[r.action] || []).push(r.method + ' ' + r.path);
    }
    routesByFunction = out;
    return out;
  }

  // showRole loads and shows a role; it reports whether the role is shown.
  async function showRole(id, keepStatus) {
    const seq = show('role-view', 'roles');
    if (!keepStatus) setStatus('role-status', '', '');
    byId('delete-confirm').hidden = true;
    const form = byId('role-form');
    form.setAttribute('aria-busy', 'true');
    if (!currentRole || String(currentRole.id) !== id) {
      // Another role was shown last: do not show its permissions meanwhile.
      currentRole = null;
      byId('role-title').textContent = 'Loading…';
      byId('role-meta').textContent = '';
      byId('role-name').value = '';
      byId('role-description').value = '';
      byId('role-inherits-list').replaceChildren();
      byId('role-permissions').replaceChildren();
    }
    try {
      const [roleRes, rolesRes, routes] = await Promise.all([
        api('GET', UP + '/roles/' + encodeURIComponent(id)),
        api('GET', UP + '/roles'),
        loadRoutes().catch(() => ({})), // the routes only annotate the actions
      ]);
      if (seq !== viewSeq) return false;
      renderRole(roleRes.data.role, rolesRes.data.roles, routes);
      return true;
    } catch (e) {
      if (seq !== viewSeq) return false;
      currentRole = null;
      byId('role-title').textContent = 'Role';
      byId('role-meta').textContent = '';
      byId('role-permissions').replaceChildren();
      byId('role-inherits-list').replaceChildren();
      showError('role-status', e);
    } finally {
      if (seq === viewSeq) form.removeAttribute('aria-busy');
    }
    return false;
  }

  function renderRole(role, roles, routes) {
    currentRole = role;
    byId('role-title').textContent = role.name;
    byId('role-meta').replaceChildren(
      'Type ', h('code', {}, role.type), ' · ',
      role.nb_users === 1 ? '1 user' : role.nb_users + ' users',
      role.type === 'public' ? ' · requests without a token' : '');
    byId('role-name').value = role.name;
    byId('role-description').value = role.description || '';

    const inherits = new Set(role.inherits || []);
    const others = roles.filter((r) => r.type !== role.type);
    byId('role-inherits-list').replaceChildren(...(others.length ? others.map((r) => {
      const id = 'inherit-' + r.type;
      return h('label', { className: 'chip', htmlFor: id },
        h('input', { type: 'checkbox', id, checked: inherits.has(r.type), dataset: { inherit: r.type } }),
        r.name, ' ', h('code', {}, r.type));
    }) : [h('span', { className: 'muted' }, 'No other role.')]));

    const container = byId('role-permissions');
    container.replaceChildren();
    const perms = role.permissions || {};
    for (const type of Object.keys(perms).sort()) {
      const controllers = (perms[type] && perms[type].controllers) || {};
      const grid = h('div', { className: 'controllers' });
      for (const controller of Object.keys(controllers).sort()) {
        grid.append(controllerBox(type, controller, controllers[controller], routes));
      }
      container.append(h('section', { className: 'perm-type', dataset: { type } }, h('h3', {}, type), grid));
    }
  }

  function controllerBox(type, controller, actions, routes) {
    const boxes = [];
    const all = h('input', { type: 'checkbox', className: 'select-all', title: 'Select all ' + controller + ' actions' });
    const syncAll = () => {
      const on = boxes.filter((b) => b.checked).length;
      all.checked = on === boxes.length;
      all.indeterminate = on > 0 && on < boxes.length;
    };
    const list = h('ul', { className: 'actions-list' });
    for (const action of Object.keys(actions).sort()) {
      const fn = type + '.' + controller + '.' + action;
      const id = 'perm-' + fn.replace(/[^A-Za-z0-9_-]/g, '_');
      const box = h('input', {
        type: 'checkbox', id, checked: Boolean(actions[action] && actions[action].enabled),
        dataset: { function: fn, type, controller, action },
        on: { change: syncAll },
      });
      boxes.push(box);
      const where = (routes[fn] || []).join(', ');
      list.append(h('li', {},
        h('label', { htmlFor: id, title: where ? fn + ' — ' + where : fn },
          box, h('span', { className: 'action-text' },
            h('span', { className: 'action-name' }, action),
            where ? h('span', { className: 'action-route' }, where) : null))));
    }
    all.addEventListener('change', () => {
      for (const b of boxes) b.checked = all.checked;
      syncAll();
    });
    syncAll();
    return h('fieldset', { className: 'controller', dataset: { controller } },
      h('legend', {}, h('label', { className: 'legend-label' }, all, h('span', {}, controller))),
      list);
  }

  async function saveRole(event) {
    event.preventDefault();
    if (!currentRole) return;
    const role = currentRole;
    const permissions = {};
    for (const box of byId('role-permissions').querySelectorAll('input[data-function]')) {
      const { type, controller, action } = box.dataset;
      permissions[type] = permissions[type] || { controllers: {} };
      const actions = permissions[type].controllers[controller] = permissions[type].controllers[controller] || {};
      actions[action] = { enabled: box.checked, policy: '' };
    }
    const inherits = [...byId('role-inherits-list').querySelectorAll('input[data-inherit]')]
      .filter((b) => b.checked).map((b) => b.dataset.inherit);
    const body = {
      name: byId('role-name').value.trim(),
      description: byId('role-description').value,
      permissions,
      inherits,
    };
    setStatus('role-status', 'busy', 'Saving…');
    try {
      await busy([byId('role-save'), byId('role-delete')], () =>
        api('PUT', UP + '/roles/' + encodeURIComponent(String(role.id)), { json: body }));
      // Show what is stored now (an action may stay on through a wildcard),
      // then say it is saved.
      if (location.hash === '#/roles/' + role.id && await showRole(String(role.id), true)) {
        setStatus('role-status', 'ok', 'Saved ' + body.name + '.');
      }
    } catch (e) {
      showError('role-status', e);
    }
  }

  function askDelete() {
    if (!currentRole) return;
    const n = currentRole.nb_users;
    byId('delete-confirm-text').textContent = 'Delete the role “' + currentRole.name + '”? ' +
      (n ? (n === 1 ? 'Its user moves' : 'Its ' + n + ' users move') + ' to the default role. ' : '') +
      'Its policy rows go with it.';
    byId('delete-confirm').hidden = false;
    byId('delete-cancel').focus();
  }

  async function deleteRole() {
    if (!currentRole) return;
    const role = currentRole;
    byId('delete-confirm').hidden = true;
    setStatus('role-status', 'busy', 'Deleting…');
    try {
      await busy([byId('role-save'), byId('role-delete')], () =>
        api('DELETE', UP + '/roles/' + encodeURIComponent(String(role.id))));
      flash = { view: 'roles', kind: 'ok', message: 'Deleted the role ' + role.name + '.' };
      go('#/roles');
    } catch (e) {
      showError('role-status', e);
    }
  }

  // ---- policy -------------------------------------------------------------

  let policyDirty = false;

  async function showPolicy() {
    const seq = show('policy-view', 'policy');
    try {
      const { data } = await api('GET', UP + '/roles');
      if (seq !== viewSeq) return;
      const select = byId('check-role');
      const chosen = select.value;
      select.replaceChildren(...data.roles.map((r) => h('option', { value: r.type }, r.name + ' (' + r.type + ')')));
      if (chosen && data.roles.some((r) => r.type === chosen)) select.value = chosen;
      if (!policyDirty) await loadPolicy();
    } catch (e) {
      if (seq === viewSeq) showError('policy-status', e);
    }
  }

  async function loadPolicy() {
    const { data, headers } = await api('GET', UP + '/policy', { accept: 'text/csv' });
    byId('policy-csv').value = data;
    policyDirty = false;
    showRevision(headers.get('X-Policy-Revision'));
  }

  function showRevision(revision) {
    byId('policy-revision').textContent = revision === null || revision === undefined ? '' : 'revision ' + revision;
  }

  function policyButtons() {
    return [byId('policy-preview'), byId('policy-apply'), byId('policy-reload')];
  }

  async function previewPolicy() {
    setStatus('policy-status', 'busy', 'Computing the changes…');
    byId('policy-changes').replaceChildren();
    try {
      const { data } = await busy(policyButtons(), () =>
        api('PUT', UP + '/policy?dryRun=true', { csv: byId('policy-csv').value }));
      const changes = data.changes || [];
      setStatus('policy-status', 'info', changes.length === 0 ? 'No decision would change.'
        : changes.length === 1 ? '1 decision would change:' : changes.length + ' decisions would change:');
      renderChanges(changes);
    } catch (e) {
      showError('policy-status', e);
    }
  }

  async function applyPolicy() {
    setStatus('policy-status', 'busy', 'Applying…');
    byId('policy-changes').replaceChildren();
    try {
      const { data } = await busy(policyButtons(), () =>
        api('PUT', UP + '/policy', { csv: byId('policy-csv').value }));
      const changes = data.changes || [];
      policyDirty = false;
      await loadPolicy();
      setStatus('policy-status', 'ok', 'Applied: revision ' + data.revision + ', ' +
        (changes.length === 1 ? '1 decision changed.' : changes.length + ' decisions changed.'));
      renderChanges(changes);
    } catch (e) {
      showError('policy-status', e);
    }
  }

  async function reloadPolicy() {
    setStatus('policy-status', 'busy', 'Reloading…');
    byId('policy-changes').replaceChildren();
    try {
      const { data } = await busy(policyButtons(), async () => {
        const res = await api('POST', UP + '/policy/reload', { json: {} });
        await loadPolicy();
        return res;
      });
      setStatus('policy-status', 'ok', 'Reloaded from the database: revision ' + data.revision + '.');
    } catch (e) {
      showError('policy-status', e);
    }
  }

  function renderChanges(changes) {
    if (changes.length === 0) {
      byId('policy-changes').replaceChildren();
      return;
    }
    byId('policy-changes').replaceChildren(h('table', { className: 'table changes', id: 'policy-changes-table' },
      h('thead', {}, h('tr', {}, ['Role', 'Method', 'Route', 'Function', 'Change'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, changes.map((f) => h('tr', { dataset: { flip: f.role + ' ' + f.method + ' ' + f.route } },
        h('td', {}, h('code', {}, f.role)),
        h('td', {}, h('span', { className: 'method' }, f.method)),
        h('td', {}, h('code', {}, f.route)),
        h('td', { className: 'muted' }, f.function || ''),
        h('td', {}, h('span', { className: 'decision ' + f.from }, f.from), ' → ',
          h('span', { className: 'decision ' + f.to }, f.to)))))));
  }

  async function checkPolicy(event) {
    event.preventDefault();
    const body = { role: byId('check-role').value, method: byId('check-method').value, path: byId('check-path').value.trim() };
    setStatus('check-status', '', '');
    byId('check-result').replaceChildren();
    try {
      const { data } = await busy([byId('check-submit')], () => api('POST', UP + '/policy/check', { json: body }));
      const rows = [
        ['Function', data.function ? h('code', {}, data.function) : '—'],
        ['Route', h('code', {}, body.method + ' ' + (data.route || body.path))],
        ['Matched rule', data.matchedRule ? h('code', {}, data.matchedRule) : '—'],
        ['Role chain', (data.roleChain || []).length ? data.roleChain.join(' → ') : body.role],
      ];
      if (data.suggestion) rows.push(['Would be allowed by', h('code', {}, data.suggestion)]);
      byId('check-result').replaceChildren(h('div', { className: 'check ' + (data.allowed ? 'allow' : 'deny') },
        h('p', { className: 'verdict' }, data.allowed ? 'Allowed' : 'Denied'),
        h('dl', {}, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))));
    } catch (e) {
      showError('check-status', e);
    }
  }

  // ---- wiring -------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    byId('login-form').addEventListener('submit', login);
    byId('logout').addEventListener('click', () => signOut(''));
    byId('create-role-form').addEventListener('submit', createRole);
    byId('role-form').addEventListener('submit', saveRole);
    byId('role-delete').addEventListener('click', askDelete);
    byId('delete-cancel').addEventListener('click', () => { byId('delete-confirm').hidden = true; });
    byId('delete-confirm-button').addEventListener('click', deleteRole);
    byId('policy-csv').addEventListener('input', () => { policyDirty = true; });
    byId('policy-preview').addEventListener('click', previewPolicy);
    byId('policy-apply').addEventListener('click', applyPolicy);
    byId('policy-reload').addEventListener('click', reloadPolicy);
    byId('check-form').addEventListener('submit', checkPolicy);
    window.addEventListener('hashchange', route);
    route();
  });
})();
