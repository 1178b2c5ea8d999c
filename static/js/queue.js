// The queue page: live view counts, changed rows updated in place, "3 incidencias nuevas —
// mostrar" instead of rows slipping in under the reader, and the optional browser
// notification for "asignada a usted" (issue #15).
//
// It listens to the DOM events of live.js. It never touches a form being typed in, never
// removes a row someone is interacting with (focus inside, a mark, a technician chosen, the
// pointer over it): such a row is only dimmed as "Ya no está en esta vista". Without script
// the list is the same list, refreshed by reloading.
(function () {
  'use strict';

  var me = document.body ? document.body.getAttribute('data-user') : null;
  var NOTIFY_KEY = 'soporte-avisos';

  // --- Browser notifications for tickets assigned to me (any page, after "Avisarme"). ---
  function notificationsOn() {
    try {
      return typeof Notification !== 'undefined' && Notification.permission === 'granted' &&
        localStorage.getItem(NOTIFY_KEY) === '1';
    } catch (e) { return false; }
  }
  document.addEventListener('soporte:incidencia', function (e) {
    var ev = e.detail || {};
    if (!me || !notificationsOn()) return;
    if (String(ev.assignee) !== me || String(ev.previous_assignee) === me) return;
    try {
      new Notification(ev.number + ' asignada a usted', {
        body: (ev.actor ? ev.actor + ': ' : '') + (ev.label || 'Derivada'),
        tag: 'soporte-' + ev.ticket
      });
    } catch (err) { /* a browser that refuses notifications outside a service worker */ }
  });
  var notifyButton = document.querySelector('[data-notify]');
  if (notifyButton && typeof Notification !== 'undefined' && Notification.permission !== 'denied' && !notificationsOn()) {
    notifyButton.hidden = false;
    notifyButton.addEventListener('click', function () {
      Notification.requestPermission().then(function (p) {
        if (p === 'granted') {
          try { localStorage.setItem(NOTIFY_KEY, '1'); } catch (e) { /* private mode */ }
          notifyButton.textContent = 'Le avisaremos cuando le asignen una incidencia.';
          notifyButton.disabled = true;
        } else {
          notifyButton.hidden = true;
        }
      });
    });
  }

  // --- The list itself. ---
  var nav = document.querySelector('nav.views');
  if (!nav) return;
  // The list's rows (none when it is empty) and what it holds (on the news line, which
  // is there either way).
  var table = document.querySelector('table[data-queue]');
  var news = document.querySelector('[data-live-news]');
  var statuses = news ? (news.getAttribute('data-statuses') || '').split(',').filter(Boolean) : [];
  var mine = !!(news && news.hasAttribute('data-mine'));
  var exact = !!(news && news.hasAttribute('data-exact'));
  var view = news ? news.getAttribute('data-view') : '';
  var newsButton = news ? news.querySelector('[data-live-show]') : null;
  var fresh = {};

  // The technicians' names, from the bulk form's picker ("Ana Ruiz (3 abiertas)").
  var names = {};
  var picker = document.getElementById('bulk-tech');
  if (picker) {
    Array.prototype.forEach.call(picker.options, function (o) {
      if (o.value) names[o.value] = o.textContent.replace(/\s*\(\d+ abiertas?\)\s*$/, '');
    });
  }

  // Whether a ticket in this state belongs in the list shown: true, false, or null when the
  // page cannot tell (a search, dates, the overdue view).
  function belongs(ev) {
    if (!exact || view === 'vencidas') return null;
    if (statuses.length && statuses.indexOf(ev.status) < 0) return false;
    if (mine && String(ev.assignee) !== me) return false;
    return true;
  }

  function busy(row) {
    if (row.contains(document.activeElement)) return true;
    if (row.matches && row.matches(':hover')) return true;
    var box = row.querySelector('input[type="checkbox"]');
    if (box && box.checked) return true;
    var pick = row.querySelector('select[data-picker]');
    return !!(pick && pick.value);
  }

  function flash(el, cls) {
    el.classList.remove(cls);
    void el.offsetWidth;
    el.classList.add(cls);
  }

  function update(row, ev) {
    row.setAttribute('data-status', ev.status);
    row.setAttribute('data-assignee', ev.assignee || 0);
    var badge = row.querySelector('td.state .badge');
    if (badge) {
      badge.className = 'badge st-' + ev.status;
      badge.textContent = ev.status_label || ev.status;
    }
    var tech = row.querySelector('td.tech');
    if (tech && !tech.contains(document.activeElement)) {
      var form = tech.querySelector('form.pick');
      var pick = form ? form.querySelector('select') : null;
      if (!form || !pick || !pick.value) {
        var who = ev.assignee ? (names[ev.assignee] || (String(ev.assignee) === me ? 'Usted' : 'Asignada')) : 'Sin asignar';
        // An untouched picker goes once someone has the ticket.
        if (form && ev.assignee) {
          form.remove();
          form = null;
        }
        if (!form) {
          var span = tech.querySelector('span.who');
          if (!span) {
            span = document.createElement('span');
            span.className = 'who';
            tech.appendChild(span);
          }
          span.textContent = who;
        }
      }
    }
    flash(row, 'changed');
  }

  function showNews() {
    if (!news || !newsButton) return;
    var n = Object.keys(fresh).length;
    news.hidden = n === 0;
    newsButton.textContent = n === 1 ? '1 incidencia nueva — mostrar' : n + ' incidencias nuevas — mostrar';
  }
  if (newsButton) {
    newsButton.addEventListener('click', function () {
      // The first page of this list, where the new ones are.
      var url = new URL(location.href);
      url.searchParams.delete('cursor');
      url.searchParams.delete('pos');
      location.href = url.pathname + url.search;
    });
  }

  var pending = null;
  function refreshCounts() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      fetch('/api/v1/views', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || !data.items) return;
          data.items.forEach(function (v) {
            var el = nav.querySelector('[data-count="' + v.name + '"]');
            if (!el) return;
            var text = Number(v.count).toLocaleString('es-PE').replace(/,/g, '.');
            if (el.textContent !== text) {
              el.textContent = text;
              flash(el, 'changed');
            }
          });
        })
        .catch(function () { /* the next event tries again */ });
    }, 200);
  }

  document.addEventListener('soporte:incidencia', function (e) {
    var ev = e.detail || {};
    refreshCounts();
    var row = table ? table.querySelector('tr[data-ticket="' + ev.ticket + '"]') : null;
    var fits = belongs(ev);
    if (row) {
      update(row, ev);
      if (fits === false) {
        if (busy(row)) {
          row.classList.add('left-view');
        } else {
          row.remove();
        }
      } else {
        row.classList.remove('left-view');
      }
    } else if (fits === true) {
      fresh[ev.ticket] = true;
    } else if (fits === false) {
      delete fresh[ev.ticket];
    }
    showNews();
  });
  document.addEventListener('soporte:recargar', refreshCounts);
})();
