// Live updates: one event stream (`GET /events`) per browser, shared by its tabs.
//
// A page opts in with `<body data-live>`. Of all the tabs of the help desk open in this
// browser, one holds the Web Lock "soporte-live" and with it the only EventSource; it passes
// every event to the other tabs over a BroadcastChannel. When that tab closes, its lock is
// released and another tab takes over, resuming from the last event id it has seen (the
// server replays what was missed). A browser without Web Locks or BroadcastChannel opens one
// stream per tab. HTTP/1.1 allows six connections per host, so one stream instead of one per
// tab leaves room for the pages themselves.
//
// What a page's own script hears, on `document`:
//   `soporte:incidencia`  detail = the event's JSON (ticket, number, status, status_label,
//                          version, assignee, previous_assignee, kind, label, actor,
//                          actor_id, created) — a new or changed ticket this person may see;
//   `soporte:recargar`    the server lost track (too many missed events): refresh counts;
//   `soporte:conexion`    detail = {open: true|false}, the stream's state.
// Nothing here touches the page: a script that reacts decides what to change, and never
// replaces a form someone is typing in.
(function () {
  'use strict';

  var body = document.body;
  if (!body || !body.hasAttribute('data-live') || typeof EventSource === 'undefined') return;

  var CHANNEL = 'soporte-live';
  var lastId = null;

  function emit(type, detail) {
    document.dispatchEvent(new CustomEvent('soporte:' + type, { detail: detail }));
  }

  // Passes a message (from the stream or from the leading tab) to this page.
  function deliver(msg) {
    if (msg.id) lastId = msg.id;
    if (msg.type === 'incidencia') {
      var data;
      try { data = JSON.parse(msg.data); } catch (e) { return; }
      emit('incidencia', data);
    } else if (msg.type === 'recargar') {
      emit('recargar', {});
    } else if (msg.type === 'conexion') {
      emit('conexion', { open: !!msg.open });
    }
  }

  // Opens the stream and hands each message to `send` (this tab and, when leading, the
  // others). The resume point of a new leader is sent as a query parameter, because an
  // EventSource cannot set the Last-Event-ID header on its first request.
  function open(send) {
    var url = '/events' + (lastId ? '?after=' + encodeURIComponent(lastId) : '');
    var source = new EventSource(url);
    source.addEventListener('open', function () { send({ type: 'conexion', open: true }); });
    source.addEventListener('error', function () { send({ type: 'conexion', open: false }); });
    ['incidencia', 'recargar'].forEach(function (type) {
      source.addEventListener(type, function (e) {
        send({ type: type, id: e.lastEventId || null, data: e.data });
      });
    });
    return source;
  }

  if (typeof BroadcastChannel === 'undefined' || !navigator.locks || !navigator.locks.request) {
    open(deliver);
    return;
  }

  var channel = new BroadcastChannel(CHANNEL);
  channel.onmessage = function (e) { deliver(e.data); };
  // Waits for the lock; holds it (and the stream) until this tab goes away.
  navigator.locks.request(CHANNEL, function () {
    return new Promise(function () {
      open(function (msg) {
        deliver(msg);
        channel.postMessage(msg);
      });
    });
  });
})();
