// Keyboard (issue #15): j/k move a visible selection in the list, Enter opens it, `a` goes to
// its technician picker, `c`/`r` on a ticket go to the note/the reply, `/` to the search, `?`
// shows the keys. Never while typing in a field, never with Ctrl, Alt or Meta held.
(function () {
  'use strict';

  function typing(el) {
    if (!el) return false;
    var tag = el.tagName;
    return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
  }

  function rows() {
    var table = document.querySelector('table[data-queue]');
    return table ? Array.prototype.slice.call(table.querySelectorAll('tbody tr[data-ticket]')) : [];
  }

  var current = null;
  function select(row) {
    if (current) current.classList.remove('kbd-current');
    current = row;
    if (!row) return;
    row.classList.add('kbd-current');
    var link = row.querySelector('a[data-open]') || row.querySelector('a');
    if (link) link.focus();
    if (row.scrollIntoView) row.scrollIntoView({ block: 'nearest' });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return false;
    var i = current ? all.indexOf(current) : -1;
    var next = i < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, i + step));
    select(all[next]);
    return true;
  }

  function focusFirst(selectors) {
    for (var i = 0; i < selectors.length; i++) {
      var el = document.querySelector(selectors[i]);
      if (el) {
        el.focus();
        if (el.scrollIntoView) el.scrollIntoView({ block: 'center' });
        return true;
      }
    }
    return false;
  }

  var help = null;
  function toggleHelp(show) {
    if (!help) {
      help = document.createElement('div');
      help.className = 'keys-help';
      help.setAttribute('role', 'dialog');
      help.setAttribute('aria-modal', 'true');
      help.setAttribute('aria-labelledby', 'keys-help-title');
      help.hidden = true;
      help.innerHTML =
        '<div class="card"><h2 id="keys-help-title">Atajos de teclado</h2><dl>' +
        '<dt><kbd>j</kbd> / <kbd>k</kbd></dt><dd>Bajar / subir en la lista de incidencias</dd>' +
        '<dt><kbd>Intro</kbd></dt><dd>Abrir la incidencia marcada</dd>' +
        '<dt><kbd>a</kbd></dt><dd>Elegir el técnico de la incidencia marcada (derivar)</dd>' +
        '<dt><kbd>c</kbd></dt><dd>En una incidencia: escribir una nota interna</dd>' +
        '<dt><kbd>r</kbd></dt><dd>En una incidencia: responder al solicitante</dd>' +
        '<dt><kbd>/</kbd></dt><dd>Buscar</dd>' +
        '<dt><kbd>?</kbd></dt><dd>Mostrar u ocultar esta ayuda</dd>' +
        '</dl><p class="muted">No funcionan mientras escribe en un campo.</p>' +
        '<button type="button" data-close>Cerrar</button></div>';
      help.addEventListener('click', function (e) {
        if (e.target === help || (e.target.hasAttribute && e.target.hasAttribute('data-close'))) toggleHelp(false);
      });
      document.body.appendChild(help);
    }
    var open = show === undefined ? help.hidden : show;
    help.hidden = !open;
    if (open) {
      var close = help.querySelector('[data-close]');
      if (close) close.focus();
    }
  }

  document.addEventListener('keydown', function (e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === 'Escape' && help && !help.hidden) {
      toggleHelp(false);
      return;
    }
    if (typing(e.target)) return;
    var done = false;
    switch (e.key) {
      case 'j': done = move(1); break;
      case 'k': done = move(-1); break;
      case 'Enter':
        if (current && document.activeElement === document.body) {
          var link = current.querySelector('a[data-open]');
          if (link) { location.href = link.href; done = true; }
        }
        break;
      case 'a': {
        var row = current || rows().filter(function (r) { return r.querySelector('select[data-picker]'); })[0];
        var pick = row ? row.querySelector('select[data-picker]') : null;
        if (pick) { pick.focus(); done = true; }
        break;
      }
      case 'c': done = focusFirst(['[data-key="c"]', 'form[action$="/comment"] textarea']); break;
      case 'r': done = focusFirst(['[data-key="r"]', 'form[action$="/reply"] textarea']); break;
      case '/': done = focusFirst(['[data-key="/"]', 'input[type="search"]']); break;
      case '?': toggleHelp(); done = true; break;
      default: break;
    }
    if (done) e.preventDefault();
  });
})();
