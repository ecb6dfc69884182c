// Gatehouse admin page: the History tab (#/history), over GET
// /api/users-permissions/policy/history[/:revision] and POST …/policy/revert.
// A timeline of the recorded policy changes, newest first; each expands to
// its rows and the decisions it flipped (a write route opened to Public in
// red), with a button that restores the policy as of that revision after a
// preview. Values are rendered as text only.
'use strict';

(() => {
  const A = window.gatehouseAdmin;
  const { h, byId } = A;
  const PAGE_SIZE = 25;
  const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE', '*']);

  // The tab and its view, added here so that index.html only loads this file.
  byId('nav').append(h('a', { href: '#/history', dataset: { tab: 'history' } }, 'History'));
  byId('main').append(h('section', { id: 'history-view', className: 'view', hidden: true },
    h('div', { className: 'card' },
      h('div', { className: 'card-head' },
        h('h1', {}, 'Policy history'),
        h('p', { className: 'muted' }, 'Every change to the policy: who made it, from where, the rows and the decisions it turned around.')),
      h('div', { id: 'history-status', className: 'status', role: 'status' }),
      h('ol', { id: 'history-list', className: 'history-list' }),
      h('button', { id: 'history-more', type: 'button', className: 'button secondary', hidden: true, on: { click: () => load(false) } }, 'Older changes'))));

  let page = 0;

  function showHistory() {
    const seq = A.show('history-view', 'history');
    A.takeFlash('history', 'history-status');
    page = 0;
    byId('history-list').replaceChildren();
    return load(true, seq);
  }

  async function load(first, seq) {
    seq = seq || A.show('history-view', 'history');
    const list = byId('history-list');
    list.setAttribute('aria-busy', 'true');
    try {
      const { data } = await A.api('GET', A.UP + '/policy/history?page=' + (page + 1) + '&pageSize=' + PAGE_SIZE);
      if (!A.isCurrent(seq)) return;
      page++;
      if (first && data.data.length === 0) list.append(h('li', { className: 'muted' }, 'No recorded change yet.'));
      for (const entry of data.data) list.append(item(entry));
      byId('history-more').hidden = page >= data.meta.pagination.pageCount;
    } catch (e) {
      if (A.isCurrent(seq)) A.showError('history-status', e);
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function when(t) {
    const d = new Date(t);
    return isNaN(d) ? String(t) : d.toLocaleString();
  }

  function summary(entry) {
    const what = entry.reverts ? 'restored revision ' + entry.reverts : '+' + entry.addedCount + ' −' + entry.removedCount + ' rows';
    return [h('span', { className: 'history-rev' }, '#' + entry.revision), ' ',
      h('time', { dateTime: entry.time }, when(entry.time)), ' · ',
      h('strong', {}, entry.actor || '(unnamed)'), ' ',
      h('span', { className: 'history-source' }, entry.source), ' · ', what,
      entry.message ? [' · ', h('span', { className: 'muted' }, entry.message)] : null];
  }

  // item is one entry of the timeline, collapsed.
  function item(entry) {
    const details = h('div', { className: 'history-details', hidden: true });
    const toggle = h('button', { type: 'button', className: 'history-toggle' }, summary(entry));
    toggle.setAttribute('aria-expanded', 'false');
    toggle.addEventListener('click', () => {
      const open = toggle.getAttribute('aria-expanded') !== 'true';
      toggle.setAttribute('aria-expanded', String(open));
      details.hidden = !open;
      if (open && !details.dataset.loaded) expand(entry, details);
    });
    return h('li', { className: 'history-entry', dataset: { revision: String(entry.revision) } }, toggle, details);
  }

  async function expand(entry, details) {
    details.replaceChildren(h('p', { className: 'muted' }, 'Loading…'));
    try {
      const { data } = await A.api('GET', A.UP + '/policy/history/' + entry.revision);
      const e = data.data;
      details.dataset.loaded = 'true';
      const statusId = 'history-status-' + e.revision;
      const status = h('div', { id: statusId, className: 'status', role: 'status' });
      const preview = h('div', { className: 'history-preview' });
      const restore = h('button', { type: 'button', className: 'button secondary small history-restore' }, 'Restore this revision…');
      restore.addEventListener('click', () => previewRestore(e.revision, restore, statusId, preview));
      details.replaceChildren(
        rows('Added', '+', e.added || []),
        rows('Removed', '−', e.removed || []),
        flips(e.changes || []),
        h('div', { className: 'actions' }, restore), status, preview);
    } catch (err) {
      details.replaceChildren(h('p', { className: 'alert error' }, String(err && err.message ? err.message : err)));
    }
  }

  function rows(title, sign, list) {
    if (list.length === 0) return null;
    return h('div', { className: 'history-rows' }, h('h3', {}, title + ' (' + list.length + ')'),
      h('pre', { className: 'history-csv' }, list.slice(0, 200).map((r) => sign + ' ' + r.join(', ')).join('\n') +
        (list.length > 200 ? '\n… ' + (list.length - 200) + ' more' : '')));
  }

  // flips renders decision changes; a write route opened to Public is red.
  function flips(changes) {
    if (changes.length === 0) return h('p', { className: 'muted' }, 'No decision changed.');
    return h('div', { className: 'table-scroll' }, h('table', { className: 'table changes history-flips' },
      h('thead', {}, h('tr', {}, ['Role', 'Method', 'Route', 'Function', 'Change'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, changes.map((f) => {
        const danger = f.role === 'public' && f.to === 'allow' && WRITES.has(f.method);
        return h('tr', { className: danger ? 'opened-public' : '', dataset: { flip: f.role + ' ' + f.method + ' ' + f.route } },
          h('td', {}, h('code', {}, f.role)),
          h('td', {}, h('span', { className: 'method' }, f.method)),
          h('td', {}, h('code', {}, A.routeLabel(f.route))),
          h('td', { className: 'muted' }, f.function || ''),
          h('td', {}, h('span', { className: 'decision ' + f.from }, f.from), ' → ', h('span', { className: 'decision ' + f.to }, f.to)));
      }))));
  }

  // previewRestore shows what restoring would flip, then offers to do it.
  async function previewRestore(revision, button, status, preview) {
    A.setStatus(status, '', '');
    try {
      const { data } = await A.busy([button], () => A.api('POST', A.UP + '/policy/revert', { json: { revision, dryRun: true } }));
      const confirm = h('button', { type: 'button', className: 'button danger small history-confirm' }, 'Restore revision ' + revision);
      confirm.addEventListener('click', () => doRestore(revision, confirm, status));
      preview.replaceChildren(
        h('p', {}, data.changes.length === 0 ? 'Restoring changes no decision.' : data.changes.length + ' decision(s) would change:'),
        flips(data.changes), h('div', { className: 'actions' }, confirm));
    } catch (e) {
      A.showError(status, e);
    }
  }

  async function doRestore(revision, button, status) {
    try {
      const { data } = await A.busy([button], () => A.api('POST', A.UP + '/policy/revert', { json: { revision } }));
      A.setFlash('history', 'ok', 'Restored revision ' + revision + ': the policy is now at revision ' + data.revision + '.');
      showHistory();
    } catch (e) {
      A.showError(status, e);
    }
  }

  A.addRoute(/^#\/history$/, showHistory);
})();
