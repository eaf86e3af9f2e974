// Live refresh: every element with data-refresh gets its rows again every 5 seconds. The pages
// work without this script; it only saves a reload.
"use strict";
(function () {
  function refresh() {
    document.querySelectorAll("[data-refresh]").forEach(function (el) {
      fetch(el.getAttribute("data-refresh"), { credentials: "same-origin", redirect: "error" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          if (!el.contains(document.activeElement)) { el.innerHTML = html; }
        })
        .catch(function () { /* the next tick tries again */ });
    });
  }
  setInterval(refresh, 5000);
})();
