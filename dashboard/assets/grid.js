/* The overview's asset grid, built in one pass from the server's aggregated document.
 * 1,000+ tiles as plain <a> elements: no React component or callback per asset. */
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
        area.tiles.forEach(function (t) {  // [asset, health text, status class, tooltip]
          parts.push('<a class="tile ' + esc(t[2]) + '" href="/asset/' +
                     encodeURIComponent(t[0]) + '" title="' + esc(t[3]) + '">' +
                     esc(t[0]) + ' ' + esc(t[1]) + '</a>');
        });
        parts.push('</div></section>');
      });
      grid.innerHTML = parts.join('');
      return 'grid rendered';
    }
  }
});
