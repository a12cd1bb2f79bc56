// flowgate dashboard: live progress. Every element with
// data-progress-run="<run_id>" and data-live="on" polls
// /api/runs/<run_id>/progress each second and updates its bars, texts and
// statuses in place until the run ends. Without this script the page
// shows the progress as of loading it.
(function () {
  'use strict';
  var ACTIVE = { created: 1, running: 1, terminating: 1, restarting: 1 };

  function num(n) {
    return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  function dec1(n) {
    var s = (Math.round(n * 10) / 10).toFixed(1).split('.');
    return num(Number(s[0])) + '.' + s[1];
  }
  // The same words as the server's progressText.
  function label(s) {
    var t = num(s.rows);
    if (s.total != null) t += ' of ' + num(s.total);
    t += ' rows';
    if (s.percent != null) t += ' · ' + dec1(s.percent) + '%';
    if (s.rows_per_sec != null) t += ' · ' + num(s.rows_per_sec) + ' rows/s';
    return t;
  }
  function setStatus(el, status, base) {
    el.textContent = status;
    el.className = (base ? base + ' ' : '') + 'status s-' + status;
  }
  function update(box, p) {
    var id = box.getAttribute('data-progress-run');
    document.querySelectorAll('[data-run-status]').forEach(function (el) {
      if (el.getAttribute('data-run-status') === id) setStatus(el, p.status);
    });
    (p.stages || []).forEach(function (s) {
      var row = box.querySelector('[data-key="' + s.task_id + ':' + s.stage + '"]');
      if (!row) return;
      var bar = row.querySelector('progress');
      var text = label(s);
      if (bar) {
        if (s.percent != null || s.status !== 'running') {
          // Not started, skipped or ended without a known total: an empty bar.
          bar.value = s.percent != null ? s.percent : 0;
          bar.removeAttribute('aria-busy');
        } else {
          // Running without a known total: indeterminate, busy.
          bar.removeAttribute('value');
          bar.setAttribute('aria-busy', 'true');
        }
        bar.setAttribute('aria-valuetext', text);
      }
      var pt = row.querySelector('.ptext');
      if (pt) pt.textContent = text;
      var st = row.querySelector('.stage-status');
      if (st) setStatus(st, s.status, 'stage-status');
      var m = row.querySelector('.stage-msg');
      if (m) m.textContent = s.message || '';
    });
  }
  function poll(box) {
    var id = box.getAttribute('data-progress-run');
    fetch('/api/runs/' + encodeURIComponent(id) + '/progress', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (p) {
        update(box, p);
        box.setAttribute('data-updated', String(Date.now()));
        if (ACTIVE[p.status]) setTimeout(function () { poll(box); }, 1000);
        else box.setAttribute('data-live', 'done');
      })
      .catch(function () { setTimeout(function () { poll(box); }, 2000); });
  }
  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-progress-run][data-live="on"]').forEach(poll);
  });
})();
