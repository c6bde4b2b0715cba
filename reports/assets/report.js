// Small enhancements for a report: click a table header to sort by that column; hover a time
// chart for the values at that second and the faults active then. The report reads completely
// without script; this only adds interaction and marks the page as ready.
(function () {
  function cellKey(row, index) {
    var cell = row.cells[index];
    if (!cell) return '';
    var v = cell.getAttribute('data-value');
    if (v !== null && v !== '' && !isNaN(Number(v))) return Number(v);
    return cell.textContent.trim().toLowerCase();
  }
  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    if (!body) return;
    var ascending = header.getAttribute('aria-sort') !== 'ascending';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, index), y = cellKey(b, index);
      var order = (typeof x === 'number' && typeof y === 'number') ? x - y
                : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute('aria-sort');
    });
    header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.tabIndex = 0;
      header.title = 'sort by this column';
      header.addEventListener('click', function () { sortBy(table, index, header); });
      header.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(table, index, header); }
      });
    });
  });
  var SVG_NS = 'http://www.w3.org/2000/svg';
  function formatValue(v) {
    if (v === null || v === undefined) return '—';
    return Number(v).toLocaleString('en-US', { maximumFractionDigits: 2 });
  }
  function element(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setupReadout(svg) {
    var block = document.querySelector('script.chart-data[data-for="' + svg.id + '"]');
    if (!block) return;
    var data;
    try { data = JSON.parse(block.textContent); } catch (e) { return; }
    if (!data.t || data.t.length === 0) return;
    var x0 = Number(svg.getAttribute('data-x0')), x1 = Number(svg.getAttribute('data-x1'));
    var left = Number(svg.getAttribute('data-plot-left'));
    var width = Number(svg.getAttribute('data-plot-width'));
    var top = Number(svg.getAttribute('data-plot-top'));
    var height = Number(svg.getAttribute('data-plot-height'));
    var cursor = document.createElementNS(SVG_NS, 'line');
    cursor.setAttribute('class', 'cursor');
    cursor.setAttribute('y1', top);
    cursor.setAttribute('y2', top + height);
    cursor.style.display = 'none';
    svg.appendChild(cursor);
    var box = svg.parentNode;
    box.style.position = 'relative';
    var tip = element('div', 'readout');
    tip.hidden = true;
    box.appendChild(tip);
    var bands = Array.prototype.map.call(svg.querySelectorAll('.fault-band'), function (g) {
      return { from: Number(g.getAttribute('data-from')), until: Number(g.getAttribute('data-until')),
               label: g.getAttribute('data-label') };
    });
    function nearest(t) {
      var lo = 0, hi = data.t.length - 1;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (data.t[mid] < t) lo = mid + 1; else hi = mid;
      }
      if (lo > 0 && Math.abs(data.t[lo - 1] - t) < Math.abs(data.t[lo] - t)) lo -= 1;
      return lo;
    }
    function hide() { cursor.style.display = 'none'; tip.hidden = true; }
    function show(clientX, clientY) {
      var ctm = svg.getScreenCTM();
      if (!ctm) return;
      var point = svg.createSVGPoint();
      point.x = clientX; point.y = clientY;
      var p = point.matrixTransform(ctm.inverse());
      if (p.x < left || p.x > left + width || !(x1 > x0)) { hide(); return; }
      var i = nearest(x0 + (p.x - left) / width * (x1 - x0));
      var t = data.t[i];
      var x = left + (t - x0) / (x1 - x0) * width;
      cursor.setAttribute('x1', x); cursor.setAttribute('x2', x);
      cursor.style.display = '';
      tip.textContent = '';
      tip.appendChild(element('div', 'readout-time', 't = ' + formatValue(t) + ' s'));
      data.lines.forEach(function (line) {
        var row = element('div', 'readout-row');
        var swatch = element('span', 'swatch');
        swatch.style.background = line.color;
        row.appendChild(swatch);
        var value = line.values[i];
        var unit = value === null || value === undefined || !data.unit ? '' : ' ' + data.unit;
        row.appendChild(element('span', '', line.name + ': ' + formatValue(value) + unit));
        tip.appendChild(row);
      });
      bands.forEach(function (b) {
        if (t >= b.from - 0.5 && t <= Math.max(b.until, b.from + 0.5)) {
          tip.appendChild(element('div', 'readout-fault', b.label));
        }
      });
      tip.hidden = false;
      var boxRect = box.getBoundingClientRect();
      var offsetX = clientX - boxRect.left, offsetY = clientY - boxRect.top;
      var tipLeft = offsetX + 14;
      if (tipLeft + tip.offsetWidth > boxRect.width) tipLeft = offsetX - 14 - tip.offsetWidth;
      tip.style.left = Math.max(0, tipLeft) + 'px';
      tip.style.top = Math.max(0, offsetY - tip.offsetHeight / 2) + 'px';
    }
    svg.addEventListener('mousemove', function (e) { show(e.clientX, e.clientY); });
    svg.addEventListener('mouseleave', hide);
  }
  Array.prototype.forEach.call(document.querySelectorAll('svg.chart[data-x0]'), setupReadout);

  document.documentElement.setAttribute('data-report-ready', '1');
})();
