// The ticket page, live (issue #15). When someone else changes this ticket, a banner says so
// above the page: "Actualizada por Carlos Ruiz hace un momento — ver cambios". Nothing the
// person is typing is ever replaced: "ver cambios" reloads the page only when no form holds
// a draft; otherwise it fetches the page and swaps in the fresh timeline and facts, leaving
// every form as it is. Those forms still carry the version the page was opened at, so an
// action sent from them is refused by the server with a sentence saying what changed (and
// the draft kept); each is marked so the person knows before sending. Without script, the
// page works as before: the server's conflict message is the safety net.
(function () {
  'use strict';

  var banner = document.getElementById('live-banner');
  if (!banner) return;
  var ticket = Number(banner.getAttribute('data-ticket'));
  var shownVersion = Number(banner.getAttribute('data-version'));
  var me = Number(document.body.getAttribute('data-user') || 0);
  var who = null;
  var at = 0;
  var timer = null;

  function ago() {
    var s = Math.max(0, Math.round((Date.now() - at) / 1000));
    if (s < 60) return 'hace un momento';
    var m = Math.floor(s / 60);
    return m === 1 ? 'hace 1 min' : 'hace ' + m + ' min';
  }

  // A form holds a draft: some field differs from what the page was served with.
  function hasDraft() {
    var fields = document.querySelectorAll('main form textarea, main form input[type=text], main form input:not([type])');
    for (var i = 0; i < fields.length; i++) {
      if (!fields[i].readOnly && fields[i].value !== fields[i].defaultValue) return true;
    }
    return false;
  }

  function markStale() {
    var forms = document.querySelectorAll('main form[action^="/tickets/"]');
    for (var i = 0; i < forms.length; i++) {
      var f = forms[i];
      // A reply or a note never conflicts: only the forms that send the version are marked.
      if (f.hasAttribute('data-stale') || /\/(reply|comment)$/.test(f.getAttribute('action'))) continue;
      f.setAttribute('data-stale', '');
      var hint = document.createElement('span');
      hint.className = 'stale-hint';
      hint.textContent = 'Cambió desde que abrió la página: si esto choca con el cambio, se le dirá qué pasó y su texto se conservará.';
      var button = f.querySelector('button[type=submit], button:not([type])');
      if (button && button.parentNode) button.parentNode.insertBefore(hint, button.nextSibling);
      else f.appendChild(hint);
    }
  }

  // The parts of the page that are not forms: the timeline, the request's facts, the clocks.
  var SWAP = ['.timeline-card', '.request .facts', '.sla-card'];

  function showChanges(e) {
    if (!hasDraft()) return; // nothing to lose: let the link reload the page
    e.preventDefault();
    fetch(location.pathname, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html');
        SWAP.forEach(function (sel) {
          var now = document.querySelector(sel);
          var next = fresh.querySelector(sel);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
        banner.textContent = 'Se muestran los cambios. Sus borradores siguen en los formularios.';
        if (timer) { clearInterval(timer); timer = null; }
      })
      .catch(function () { banner.textContent = 'No se pudieron traer los cambios; copie su borrador y recargue la página.'; });
  }

  function render() {
    banner.textContent = '';
    banner.appendChild(document.createTextNode('Actualizada por ' + who + ' ' + ago() + ' — '));
    var link = document.createElement('a');
    link.href = location.pathname;
    link.textContent = 'ver cambios';
    link.addEventListener('click', showChanges);
    banner.appendChild(link);
    banner.hidden = false;
  }

  document.addEventListener('soporte:incidencia', function (e) {
    var d = e.detail || {};
    if (Number(d.ticket) !== ticket) return;
    if (typeof d.version === 'number' && d.version <= shownVersion) return;
    if (me && Number(d.actor_id) === me) return;
    who = d.actor || 'otra persona';
    at = Date.now();
    render();
    markStale();
    if (!timer) timer = setInterval(render, 30000);
  });
})();
