// soporte: the one script, served from /static/app.js (the CSP allows no other). A screenshot
// pasted into the text of a form marked `data-paste` becomes one more file of that form's
// file input, named captura-AAAAMMDD-HHMMSS.png; the chosen files are listed under the input
// and can be removed. Without this script the file input works as it always does.
(function () {
  'use strict';

  var TYPES = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' };

  function two(n) { return (n < 10 ? '0' : '') + n; }

  function stamp() {
    var d = new Date();
    return 'captura-' + d.getFullYear() + two(d.getMonth() + 1) + two(d.getDate()) +
      '-' + two(d.getHours()) + two(d.getMinutes()) + two(d.getSeconds());
  }

  function size(bytes) {
    if (bytes >= 1024 * 1024) return (bytes / (1024 * 1024)).toFixed(1).replace('.', ',') + ' MB';
    if (bytes >= 1024) return Math.round(bytes / 1024) + ' KB';
    return bytes + ' B';
  }

  // Lists the input's files under it, with a button that removes them all.
  function show(input) {
    var list = document.getElementById(input.getAttribute('data-list'));
    if (!list) return;
    list.textContent = '';
    var files = input.files || [];
    for (var i = 0; i < files.length; i++) {
      var li = document.createElement('li');
      li.textContent = files[i].name + ' (' + size(files[i].size) + ')';
      list.appendChild(li);
    }
    if (files.length > 0) {
      var li = document.createElement('li');
      var clear = document.createElement('button');
      clear.type = 'button';
      clear.className = 'secondary';
      clear.textContent = files.length === 1 ? 'Quitar el archivo' : 'Quitar los ' + files.length + ' archivos';
      clear.addEventListener('click', function () {
        input.value = '';
        show(input);
        input.focus();
      });
      li.appendChild(clear);
      list.appendChild(li);
    }
  }

  function attachPasted(form, input, event) {
    var data = event.clipboardData;
    if (!data || !data.files || data.files.length === 0) return;
    // Text copied from a spreadsheet or a page also carries a picture of it: paste the text.
    var types = Array.prototype.slice.call(data.types || []);
    if (types.indexOf('text/plain') !== -1) return;
    var images = Array.prototype.filter.call(data.files, function (f) { return TYPES[f.type]; });
    if (images.length === 0) return;
    event.preventDefault();
    var all = new DataTransfer();
    Array.prototype.forEach.call(input.files || [], function (f) { all.items.add(f); });
    var base = stamp();
    images.forEach(function (f, i) {
      var name = base + (images.length > 1 ? '-' + (i + 1) : '') + '.' + TYPES[f.type];
      all.items.add(new File([f], name, { type: f.type, lastModified: Date.now() }));
    });
    input.files = all.files;
    show(input);
  }

  function setUp(form) {
    var input = form.querySelector('input[type=file]');
    if (!input || typeof DataTransfer === 'undefined') return;
    var hints = form.querySelectorAll('.paste-hint');
    for (var i = 0; i < hints.length; i++) hints[i].hidden = false;
    input.addEventListener('change', function () { show(input); });
    form.addEventListener('paste', function (event) { attachPasted(form, input, event); });
  }

  function start() {
    var forms = document.querySelectorAll('form[data-paste]');
    for (var i = 0; i < forms.length; i++) setUp(forms[i]);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
