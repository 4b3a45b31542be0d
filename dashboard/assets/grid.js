/* The overview's asset grid, built in one pass from the server's aggregated document.
 * 1,000+ tiles as plain <a> elements: no React component or callback per asset.
 * The index of / carries the same grid as static HTML (#overview-static, dashboard/overview_doc.py)
 * for the first paint; it goes as soon as the live grid is drawn or another page is shown. */
(function () {
  var dropStatic = function () {
    var s = document.getElementById('overview-static');
    if (s) { s.parentNode.removeChild(s); }
  };
  // another page rendered by Dash (no live grid on it): the static overview must not stay below
  new MutationObserver(function (_, obs) {
    var content = document.getElementById('_pages_content');
    if (!document.getElementById('overview-static')) { obs.disconnect(); return; }
    if (content && content.firstChild && !document.getElementById('asset-grid')) {
      dropStatic(); obs.disconnect();
    }
  }).observe(document, {childList: true, subtree: true});

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    plantwatch: {
      renderGrid: function (doc) {
        var grid = document.getElementById('asset-grid');
        if (!grid || !doc) { return window.dash_clientside.no_update; }
        var esc = function (s) {
          return String(s).replace(/[&<>"']/g, function (c) {
            return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
          });
        };
        var parts = [];
        doc.areas.forEach(function (area) {
          parts.push('<section class="area"><h3>' + esc(area.name) + ' (' + area.n +
                     ' assets, ' + area.abnormal + ' abnormal)</h3><div class="tiles">');
          area.tiles.forEach(function (t) {  // [asset, health text, status class(, silent)]
            var tip = t[0] + ': health ' + t[1] +
                      (t[2].indexOf('p-') === 0 ? ', alarm ' + t[2].slice(2) : '') +
                      (t.length > 3 ? ', silent: ' + t[3] : '');
            parts.push('<a class="tile ' + esc(t[2]) + '" href="/asset/' +
                       encodeURIComponent(t[0]) + '" title="' + esc(tip) + '">' +
                       esc(t[0]) + ' ' + esc(t[1]) + '</a>');
          });
          parts.push('</div></section>');
        });
        grid.innerHTML = parts.join('');
        dropStatic();
        return 'grid rendered';
      }
    }
  });
})();
