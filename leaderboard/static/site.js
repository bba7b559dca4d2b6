/* Sortable tables: click a column heading's button to sort by it; click again to reverse.
   Numbers sort by their data-value (missing values always last); text by its content.
   Only reads and moves existing nodes: no HTML is ever built from strings. */
"use strict";
(function () {
  function key(row, col, numeric) {
    var cell = row.children[col];
    if (!cell) { return null; }
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (!numeric) { return raw === "" ? null : raw.toLowerCase(); }
    var x = parseFloat(raw);
    return isNaN(x) ? null : x;
  }

  function sortBy(table, th) {
    var col = parseInt(th.getAttribute("data-col"), 10);
    var numeric = th.getAttribute("data-type") === "num";
    var current = th.getAttribute("aria-sort");
    // first click: numbers best-first (descending), text A to Z; then alternate
    var ascending = current ? current === "descending" : !numeric;
    table.querySelectorAll("thead th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r.setAttribute("data-order", String(i)); });
    rows.sort(function (a, b) {
      var ka = key(a, col, numeric), kb = key(b, col, numeric);
      if (ka === null || kb === null) {
        if (ka === kb) { return a.getAttribute("data-order") - b.getAttribute("data-order"); }
        return ka === null ? 1 : -1;
      }
      var c = numeric ? ka - kb : ka.localeCompare(kb);
      if (c === 0) { return a.getAttribute("data-order") - b.getAttribute("data-order"); }
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th[data-col]").forEach(function (th) {
      var button = th.querySelector("button");
      if (button) {
        button.addEventListener("click", function () { sortBy(table, th); });
      }
    });
  });
})();
