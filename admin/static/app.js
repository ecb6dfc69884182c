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
    const headers = { Accept: accept, 'X-Gatehouse-Client': 'admin' }; // the policy history records the admin page as the source
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

  // showError shows an error's message; for an API validation error, also
  // each field error of details.errors that the message does not already say.
  function showError(id, err) {
    setStatus(id, 'error', err instanceof ApiError ? err.message : String(err && err.message ? err.message : err));
    const list = err instanceof ApiError && err.details && Array.isArray(err.details.errors) ? err.details.errors : [];
    const more = list.map((e) => e && typeof e.message === 'string' ? e.message : '').filter((m) => m && m !== err.message);
    if (more.length) byId(id).append(h('ul', { className: 'status-details' }, more.map((m) => h('li', {}, m))));
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
    byId('nav-toggle').hidden = !signedIn;
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

  // Screens of their own files (advanced.js, custom-providers.js…) add
  // their routes with gatehouseAdmin.addRoute(pattern, show).
  const extraRoutes = [];

  function route() {
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      showLogin();
      return;
    }
    const hash = location.hash;
    document.querySelector('.topbar').classList.remove('nav-open');
    for (const r of extraRoutes) {
      const found = r.pattern.exec(hash);
      if (found) {
        r.show(...found.slice(1));
        return;
      }
    }
    const m = /^#\/roles\/(\d+)$/.exec(hash);
    const provider = /^#\/providers\/([a-z0-9_-]{1,64})$/.exec(hash);
    if (m) showRole(m[1]);
    else if (provider) showProvider(provider[1]);
    else if (hash === '#/users') showUsers();
    else if (hash === '#/email-templates') showTemplates();
    else if (hash === '#/providers') showProviders();
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

  const signOutHooks = []; // gatehouseAdmin.onSignOut: other files' views to clear

  // signOut forgets the token and everything shown, then shows the login form.
  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    byId('roles-body').replaceChildren();
    byId('role-permissions').replaceChildren();
    byId('policy-csv').value = '';
    byId('policy-changes').replaceChildren();
    byId('check-result').replaceChildren();
    byId('users-body').replaceChildren();
    byId('users-total').textContent = '';
    byId('users-search').value = '';
    byId('templates-forms').replaceChildren();
    byId('providers-body').replaceChildren();
    byId('provider-fields').replaceChildren();
    usersSearch = '';
    usersPage = 1;
    currentProvider = null;
    policyDirty = false;
    for (const clear of signOutHooks) clear();
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
  // The roles that cannot be deleted, with the default role (the API
  // refuses them too): no Delete button.
  const SYSTEM_ROLES = ['public', 'authenticated', 'admin'];
  const roleTypeOf = (res) => res.data.role.type;

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
    byId('public-warning').hidden = true;
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
      const [roleRes, rolesRes, routes, advanced] = await Promise.all([
        api('GET', UP + '/roles/' + encodeURIComponent(id)),
        api('GET', UP + '/roles'),
        loadRoutes().catch(() => ({})), // the routes only annotate the actions
        api('GET', UP + '/advanced').catch(() => null), // only says which role is the default
      ]);
      if (seq !== viewSeq) return false;
      renderRole(roleRes.data.role, rolesRes.data.roles, routes);
      const defaultRole = advanced && advanced.data.settings ? advanced.data.settings.default_role : 'authenticated';
      byId('role-delete').hidden = SYSTEM_ROLES.includes(roleTypeOf(roleRes)) || roleTypeOf(roleRes) === defaultRole;
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
            where ? h('span', { className: 'action-route' }, routeLabel(where)) : null))));
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

  // routeLabel is a route as text that may break after each "/" (and
  // nowhere else): long routes wrap at their segments on narrow screens.
  function routeLabel(text) {
    return String(text).split('/').flatMap((part, i) => (i === 0 ? [part] : [h('wbr'), '/' + part]));
  }

  async function saveRole(event, confirmed) {
    if (event) event.preventDefault();
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
    const risks = confirmed ? [] : publicRisks(role, permissions, inherits);
    if (risks.length) {
      // Public is everyone without a token: say what this gives them, and
      // save only when asked again.
      byId('public-warning-list').replaceChildren(...risks.map((r) => h('li', {}, r)));
      byId('public-warning').hidden = false;
      byId('public-warning-cancel').focus();
      return;
    }
    byId('public-warning').hidden = true;
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

  // publicRisks lists what a save would newly give the public role (anyone,
  // without a token): inherited roles, and actions whose routes write.
  function publicRisks(role, permissions, inherits) {
    if (role.type !== 'public') return [];
    const risks = [];
    const before = new Set(role.inherits || []);
    for (const t of inherits) {
      if (!before.has(t)) risks.push('Public would inherit every permission of the role ' + t + '.');
    }
    const was = role.permissions || {};
    for (const [type, p] of Object.entries(permissions)) {
      for (const [controller, actions] of Object.entries(p.controllers)) {
        for (const [action, v] of Object.entries(actions)) {
          const old = ((((was[type] || {}).controllers || {})[controller] || {})[action]) || {};
          if (!v.enabled || old.enabled) continue;
          const fn = type + '.' + controller + '.' + action;
          const writes = ((routesByFunction || {})[fn] || []).filter((r) => /^(POST|PUT|PATCH|DELETE) /.test(r));
          if (writes.length) risks.push('Anyone could call ' + writes.join(', ') + ' (' + fn + ').');
        }
      }
    }
    return risks;
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

  // ---- users ------------------------------------------------------------------

  const USERS_PAGE_SIZE = 10;
  // The fields asked for: the API never returns a private field, and the
  // page does not even ask for more than it shows.
  const USER_FIELDS = ['username', 'email', 'confirmed', 'blocked'];
  let usersPage = 1;
  let usersSearch = '';

  // usersQuery is the query string of GET /api/users (list) or
  // /api/users/count: the search as Strapi filters, and for the list the
  // fields, the role, the order and the page.
  function usersQuery(list) {
    const q = new URLSearchParams();
    if (usersSearch) {
      q.append('filters[$or][0][username][$containsi]', usersSearch);
      q.append('filters[$or][1][email][$containsi]', usersSearch);
    }
    if (list) {
      USER_FIELDS.forEach((f, i) => q.append('fields[' + i + ']', f));
      q.append('populate', 'role');
      q.append('sort', 'id:asc');
      q.append('pagination[page]', String(usersPage));
      q.append('pagination[pageSize]', String(USERS_PAGE_SIZE));
    }
    const qs = q.toString();
    return qs ? '?' + qs : '';
  }

  function showUsers() {
    const seq = show('users-view', 'users');
    takeFlash('users', 'users-status');
    byId('users-search').value = usersSearch;
    return loadUsers(seq);
  }

  // loadUsers loads and shows the current page of users.
  async function loadUsers(seq) {
    const table = byId('users-table');
    table.setAttribute('aria-busy', 'true');
    const controls = [byId('users-prev'), byId('users-next'), byId('users-search-submit')];
    let total = null;
    try {
      const [list, count, roles] = await busy(controls, () => Promise.all([
        api('GET', '/api/users' + usersQuery(true)),
        api('GET', '/api/users/count' + usersQuery(false)),
        api('GET', UP + '/roles'),
      ]));
      if (seq !== viewSeq) return;
      total = Number(count.data) || 0;
      const pages = Math.max(1, Math.ceil(total / USERS_PAGE_SIZE));
      if (usersPage > pages) {
        // The last page emptied (a deletion, a narrower search): show the new last one.
        usersPage = pages;
        await loadUsers(seq);
        return;
      }
      byId('users-body').replaceChildren(...(list.data.length ? list.data.map((u) => userRow(u, roles.data.roles))
        : [h('tr', {}, h('td', { colSpan: 6, className: 'muted empty' }, usersSearch ? 'No user matches “' + usersSearch + '”.' : 'No users.'))]));
    } catch (e) {
      if (seq === viewSeq) showError('users-status', e);
    } finally {
      if (seq === viewSeq) {
        renderPager(total);
        table.removeAttribute('aria-busy');
      }
    }
  }

  function renderPager(total) {
    const pages = total === null ? null : Math.max(1, Math.ceil(total / USERS_PAGE_SIZE));
    byId('users-total').textContent = total === null ? '' : total === 1 ? '1 user' : total + ' users';
    byId('users-page').textContent = pages === null ? '' : 'Page ' + usersPage + ' of ' + pages;
    byId('users-prev').disabled = usersPage <= 1;
    byId('users-next').disabled = pages === null || usersPage >= pages;
  }

  function userRow(u, roles) {
    const role = u.role || null;
    const options = roles.filter((r) => r.type !== 'public' || (role && role.id === r.id))
      .map((r) => h('option', { value: String(r.id), selected: Boolean(role && role.id === r.id) }, r.name));
    if (!role) options.unshift(h('option', { value: '', selected: true, disabled: true }, '—'));
    const row = h('tr', { dataset: { userId: String(u.id) } });
    const select = h('select', {
      className: 'user-role', ariaLabel: 'Role of ' + u.username,
      on: { change: () => changeUser(row, u, { role: Number(select.value) }, 'Changed the role of ' + u.username + ' to ' + select.selectedOptions[0].textContent + '.', () => { select.value = role ? String(role.id) : ''; }) },
    }, options);
    row.append(
      h('td', { className: 'user-name' }, u.username),
      h('td', { className: 'user-email' }, u.email),
      h('td', {}, select),
      h('td', {}, h('span', { className: 'flag ' + (u.confirmed ? 'yes' : 'no') }, u.confirmed ? 'Confirmed' : 'Unconfirmed')),
      h('td', {}, h('span', { className: 'flag ' + (u.blocked ? 'blocked' : 'yes') }, u.blocked ? 'Blocked' : 'Active')),
      h('td', { className: 'num' }, h('div', { className: 'actions' },
        u.confirmed ? null : h('button', {
          type: 'button', className: 'button secondary small', dataset: { action: 'confirm' },
          on: { click: () => changeUser(row, u, { confirmed: true }, 'Confirmed ' + u.username + '.') },
        }, 'Confirm'),
        h('button', {
          type: 'button', className: 'button secondary small', dataset: { action: u.blocked ? 'unblock' : 'block' },
          on: { click: () => changeUser(row, u, { blocked: !u.blocked }, (u.blocked ? 'Unblocked ' : 'Blocked ') + u.username + '.') },
        }, u.blocked ? 'Unblock' : 'Block'),
        window.gatehouseUserFields ? window.gatehouseUserFields.button(row, u, changeUser) : null, // userfields.js
        h('button', { type: 'button', className: 'button danger small', dataset: { action: 'delete' }, on: { click: () => deleteUser(row, u) } }, 'Delete'))));
    return row;
  }

  // changeUser sends PUT /api/users/:id with body, then shows message and
  // the page again; on an error, undo puts the row's control back.
  async function changeUser(row, u, body, message, undo) {
    const seq = viewSeq;
    setStatus('users-status', 'busy', 'Saving…');
    try {
      await busy(row.querySelectorAll('button, select'), () =>
        api('PUT', '/api/users/' + encodeURIComponent(String(u.id)), { json: body }));
      if (seq !== viewSeq) return;
      setStatus('users-status', 'ok', message);
      await loadUsers(seq);
    } catch (e) {
      if (undo) undo();
      if (seq === viewSeq) showError('users-status', e);
    }
  }

  async function deleteUser(row, u) {
    if (!confirm('Delete the user “' + u.username + '” (' + u.email + ')? This cannot be undone.')) return;
    const seq = viewSeq;
    setStatus('users-status', 'busy', 'Deleting…');
    try {
      await busy(row.querySelectorAll('button, select'), () =>
        api('DELETE', '/api/users/' + encodeURIComponent(String(u.id))));
      if (seq !== viewSeq) return;
      setStatus('users-status', 'ok', 'Deleted the user ' + u.username + '.');
      await loadUsers(seq);
    } catch (e) {
      if (seq === viewSeq) showError('users-status', e);
    }
  }

  function searchUsers(event) {
    event.preventDefault();
    usersSearch = byId('users-search').value.trim();
    usersPage = 1;
    setStatus('users-status', '', '');
    loadUsers(viewSeq);
  }

  function turnUsersPage(delta) {
    usersPage = Math.max(1, usersPage + delta);
    setStatus('users-status', '', '');
    loadUsers(viewSeq);
  }

  // ---- email templates ----------------------------------------------------------

  // The templates Gatehouse sends, in the order shown.
  const TEMPLATES = [
    ['reset_password', 'Reset password'],
    ['email_confirmation', 'Email address confirmation'],
  ];

  async function showTemplates() {
    const seq = show('templates-view', 'email-templates');
    setStatus('templates-status', '', '');
    const container = byId('templates-forms');
    container.setAttribute('aria-busy', 'true');
    try {
      const { data } = await api('GET', UP + '/email-templates');
      if (seq !== viewSeq) return;
      container.replaceChildren(...TEMPLATES.filter(([key]) => data[key]).map(([key, label]) => templateForm(key, label, data[key])));
    } catch (e) {
      if (seq === viewSeq) {
        container.replaceChildren();
        showError('templates-status', e);
      }
    } finally {
      if (seq === viewSeq) container.removeAttribute('aria-busy');
    }
  }

  // templateForm is the editor of one template. Every value goes into an
  // input's value: templates are HTML, shown here as text.
  function templateForm(key, label, t) {
    const o = t.options || {};
    const from = o.from || {};
    const id = (f) => 'tpl-' + key + '-' + f;
    const field = (f, text, type, value, grow) => h('div', { className: 'field' + (grow ? ' grow' : '') },
      h('label', { htmlFor: id(f) }, text),
      h('input', { id: id(f), type, value: value || '', maxLength: 1024, autocomplete: 'off', spellcheck: false }));
    return h('form', {
      className: 'card template', id: 'tpl-' + key, noValidate: true, dataset: { template: key },
      on: { submit: (event) => saveTemplate(event, key, label) },
    },
    h('div', { className: 'card-head split' },
      h('div', {}, h('h2', {}, label), h('p', { className: 'muted' }, h('code', {}, key))),
      h('div', { className: 'actions' }, h('button', { id: id('save'), type: 'submit', className: 'button primary' }, 'Save'))),
    h('div', { id: id('status'), className: 'status' }),
    h('div', { className: 'row' },
      field('from-name', 'Sender name', 'text', from.name),
      field('from-email', 'Sender email', 'email', from.email, true),
      field('reply-to', 'Reply-to', 'email', o.response_email, true)),
    h('div', { className: 'row' }, field('subject', 'Subject', 'text', o.object, true)),
    h('label', { htmlFor: id('message') }, 'Message (HTML)'),
    h('textarea', { id: id('message'), className: 'template-message', value: o.message || '', rows: 10, spellcheck: false }));
  }

  async function saveTemplate(event, key, label) {
    event.preventDefault();
    const value = (f) => byId('tpl-' + key + '-' + f).value;
    // display and icon are left out: the server keeps them.
    const body = { 'email-templates': { [key]: { options: {
      from: { name: value('from-name'), email: value('from-email').trim() },
      response_email: value('reply-to').trim(),
      object: value('subject'),
      message: value('message'),
    } } } };
    const status = 'tpl-' + key + '-status';
    setStatus(status, 'busy', 'Saving…');
    try {
      await busy([byId('tpl-' + key + '-save')], () => api('PUT', UP + '/email-templates', { json: body }));
      setStatus(status, 'ok', 'Saved the ' + label + ' template.');
    } catch (e) {
      showError(status, e);
    }
  }

  // ---- providers --------------------------------------------------------------

  // providerNames puts email (password login) first, then the others by name.
  function providerNames(data) {
    return Object.keys(data).sort((a, b) => (a === 'email' ? -1 : b === 'email' ? 1 : a < b ? -1 : a > b ? 1 : 0));
  }

  // secretState says whether a secret is stored; the value itself is never
  // shown (the API masks it, and the page would not show it anyway).
  function secretState(secret) {
    return secret ? h('span', { className: 'flag yes' }, 'set') : h('span', { className: 'flag no' }, 'not set');
  }

  function showProviders() {
    const seq = show('providers-view', 'providers');
    takeFlash('providers', 'providers-status');
    return loadProviders(seq);
  }

  async function loadProviders(seq) {
    const table = byId('providers-table');
    table.setAttribute('aria-busy', 'true');
    try {
      const { data } = await api('GET', UP + '/providers');
      if (seq !== viewSeq) return;
      byId('providers-body').replaceChildren(...providerNames(data).map((name) => providerRow(name, data[name] || {})));
    } catch (e) {
      if (seq === viewSeq) showError('providers-status', e);
    } finally {
      if (seq === viewSeq) table.removeAttribute('aria-busy');
    }
  }

  function providerRow(name, p) {
    const email = name === 'email';
    const toggle = h('input', { type: 'checkbox', className: 'provider-enabled', checked: Boolean(p.enabled), ariaLabel: 'Enable ' + name });
    toggle.addEventListener('change', () => toggleProvider(name, toggle));
    return h('tr', { dataset: { provider: name } },
      h('td', {}, email ? h('span', { className: 'provider-name' }, name, h('span', { className: 'muted' }, ' · password login'))
        : p.type ? [h('a', { href: '#/custom-provider/edit/' + encodeURIComponent(name), className: 'role-link' }, name),
          h('span', { className: 'muted' }, ' · ' + (p.type === 'oidc' ? 'OpenID Connect' : 'OAuth 2.0'))]
          : h('a', { href: '#/providers/' + encodeURIComponent(name), className: 'role-link' }, name)),
      h('td', {}, toggle),
      h('td', {}, email ? null : p.key ? h('code', {}, p.key) : h('span', { className: 'muted' }, '—')),
      h('td', {}, email ? null : secretState(p.secret)),
      h('td', { className: 'muted wrap' }, email ? null : p.callback || '—'));
  }

  async function toggleProvider(name, box) {
    const enabled = box.checked;
    if (name === 'email' && !enabled &&
      !confirm('Turn password login off? Nobody, you included, can then log in with a password.')) {
      box.checked = true;
      return;
    }
    const seq = viewSeq;
    setStatus('providers-status', 'busy', 'Saving…');
    try {
      await busy([box], () => api('PUT', UP + '/providers', { json: { providers: { [name]: { enabled } } } }));
      if (seq !== viewSeq) return;
      setStatus('providers-status', 'ok', (enabled ? 'Enabled ' : 'Disabled ') + name + '.');
      await loadProviders(seq);
    } catch (e) {
      box.checked = !enabled;
      if (seq === viewSeq) showError('providers-status', e);
    }
  }

  // The fields of a provider's editor: [name, label, hint, always shown].
  // The others are shown when the API has them for this provider.
  const PROVIDER_FIELDS = [
    ['key', 'Client ID', '', true],
    ['callback', 'Front-end callback URL', 'Where the browser goes after signing in; a ?callback= must match it.', true],
    ['scope', 'Scope', 'Comma-separated.', true],
    ['subdomain', 'Subdomain', 'The tenant’s host name, optionally with a path.', false],
    ['callbackUrl', 'Server callback (callbackUrl)', 'Kept for Strapi’s settings; the sign-in flow does not use it.', false],
    ['jwksurl', 'JWKS URL', '', false],
    ['issuer', 'Issuer', '', false],
    ['authorizeUrl', 'Authorize URL', '', false],
    ['tokenUrl', 'Token URL', '', false],
    ['apiUrl', 'API URL', '', false],
  ];

  let currentProvider = null; // {name, fields: the names shown}

  // showProvider loads and shows one provider; it reports whether it is shown.
  async function showProvider(name, keepStatus) {
    const seq = show('provider-view', 'providers');
    if (!keepStatus) setStatus('provider-status', '', '');
    const form = byId('provider-form');
    form.setAttribute('aria-busy', 'true');
    if (!currentProvider || currentProvider.name !== name) {
      currentProvider = null;
      byId('provider-title').textContent = name;
      byId('provider-meta').textContent = 'Loading…';
      byId('provider-fields').replaceChildren();
    }
    try {
      const { data } = await api('GET', UP + '/providers');
      if (seq !== viewSeq) return false;
      if (!Object.prototype.hasOwnProperty.call(data, name)) throw new Error('No provider named ' + name + '.');
      renderProvider(name, data[name] || {});
      return true;
    } catch (e) {
      if (seq !== viewSeq) return false;
      currentProvider = null;
      byId('provider-meta').textContent = '';
      byId('provider-fields').replaceChildren();
      showError('provider-status', e);
    } finally {
      if (seq === viewSeq) form.removeAttribute('aria-busy');
    }
    return false;
  }

  function renderProvider(name, p) {
    const email = name === 'email';
    const shown = email ? [] : PROVIDER_FIELDS.filter(([f, , , always]) => always || Object.prototype.hasOwnProperty.call(p, f));
    currentProvider = { name, fields: shown.map(([f]) => f) };
    byId('provider-title').textContent = name;
    byId('provider-meta').replaceChildren(p.enabled ? 'Enabled' : 'Disabled',
      p.redirectUri ? h('span', {}, ' · redirect URL to register at the provider: ', h('code', { id: 'provider-redirect' }, p.redirectUri)) : '');
    const field = (f, label, hint, input) => h('div', { className: 'field' },
      h('label', { htmlFor: 'provider-' + f }, label), input, hint ? h('p', { className: 'hint muted' }, hint) : null);
    const text = (f, value) => h('input', { id: 'provider-' + f, type: 'text', value: value || '', autocomplete: 'off', spellcheck: false });
    const fields = [h('label', { className: 'chip', htmlFor: 'provider-enabled' },
      h('input', { type: 'checkbox', id: 'provider-enabled', checked: Boolean(p.enabled) }), 'Enabled')];
    for (const [f, label, hint] of shown) {
      const value = f === 'scope' ? (Array.isArray(p.scope) ? p.scope.join(', ') : '') : p[f];
      fields.push(field(f, label, hint, text(f, typeof value === 'string' ? value : '')));
      if (f === 'key') {
        // The secret input starts empty whatever the API answered: a
        // stored secret is only said to exist.
        fields.push(field('secret', 'Client secret', h('span', { id: 'provider-secret-state' }, 'Secret ', secretState(p.secret),
          p.secret ? ' (never shown; type a new one to replace it)' : ''), h('input', {
          id: 'provider-secret', type: 'password', value: '', autocomplete: 'new-password',
          placeholder: p.secret ? 'Stored: leave empty to keep it' : 'Not set',
        })));
      }
    }
    byId('provider-fields').replaceChildren(h('div', { className: 'provider-grid' }, fields));
  }

  async function saveProvider(event) {
    event.preventDefault();
    if (!currentProvider) return;
    const { name, fields } = currentProvider;
    const entry = { enabled: byId('provider-enabled').checked };
    for (const f of fields) {
      const value = byId('provider-' + f).value.trim();
      entry[f] = f === 'scope' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
    }
    const secret = name === 'email' ? '' : byId('provider-secret').value;
    if (secret !== '') entry.secret = secret; // left out, the stored one stays
    if (name === 'email' && !entry.enabled &&
      !confirm('Turn password login off? Nobody, you included, can then log in with a password.')) return;
    setStatus('provider-status', 'busy', 'Saving…');
    try {
      await busy([byId('provider-save')], () => api('PUT', UP + '/providers', { json: { providers: { [name]: entry } } }));
      if (location.hash === '#/providers/' + name && await showProvider(name, true)) {
        setStatus('provider-status', 'ok', 'Saved ' + name + '.');
      }
    } catch (e) {
      showError('provider-status', e);
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
      renderFindings(data.findings || []);
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
      renderFindings(data.findings || []);
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

  // renderFindings lists `policy lint`'s findings on the policy shown,
  // after the decision flips.
  function renderFindings(findings) {
    byId('policy-changes').append(h('div', { id: 'policy-findings', className: findings.length ? 'findings' : 'findings none' },
      h('h3', {}, findings.length === 1 ? '1 lint finding' : findings.length ? findings.length + ' lint findings' : 'No lint findings'),
      findings.length ? h('ul', {}, findings.map((f) => h('li', { dataset: { kind: f.kind } },
        h('span', { className: 'finding-kind' }, f.kind), ' ', routeLabel(f.message)))) : null));
  }

  function renderChanges(changes) {
    if (changes.length === 0) {
      byId('policy-changes').replaceChildren();
      return;
    }
    byId('policy-changes').replaceChildren(h('div', { className: 'table-scroll' }, h('table', { className: 'table changes', id: 'policy-changes-table' },
      h('thead', {}, h('tr', {}, ['Role', 'Method', 'Route', 'Function', 'Change'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, changes.map((f) => h('tr', { dataset: { flip: f.role + ' ' + f.method + ' ' + f.route } },
        h('td', {}, h('code', {}, f.role)),
        h('td', {}, h('span', { className: 'method' }, f.method)),
        h('td', {}, h('code', {}, routeLabel(f.route))),
        h('td', { className: 'muted' }, f.function || ''),
        h('td', {}, h('span', { className: 'decision ' + f.from }, f.from), ' → ',
          h('span', { className: 'decision ' + f.to }, f.to))))))));
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

  // ---- for the screens in their own files ------------------------------------

  // Screens kept in their own files (userfields.js, advanced.js,
  // custom-providers.js) use these helpers and hooks.
  window.gatehouseAdmin = Object.freeze({
    UP, api, h, byId, setStatus, showError, busy, show, go, takeFlash, routeLabel,
    isCurrent: (seq) => seq === viewSeq,
    setFlash: (view, kind, message) => { flash = { view, kind, message }; },
    addRoute: (pattern, showFn) => extraRoutes.push({ pattern, show: showFn }),
    onSignOut: (fn) => signOutHooks.push(fn),
  });

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
    byId('users-search-form').addEventListener('submit', searchUsers);
    byId('users-prev').addEventListener('click', () => turnUsersPage(-1));
    byId('users-next').addEventListener('click', () => turnUsersPage(1));
    byId('provider-form').addEventListener('submit', saveProvider);
    byId('public-warning-cancel').addEventListener('click', () => { byId('public-warning').hidden = true; });
    byId('public-warning-save').addEventListener('click', () => saveRole(null, true));
    byId('nav-toggle').addEventListener('click', () => {
      const open = document.querySelector('.topbar').classList.toggle('nav-open');
      byId('nav-toggle').setAttribute('aria-expanded', String(open));
    });
    window.addEventListener('hashchange', route);
    route();
  });
})();
