// hookroute console: the one script (CSP: script-src 'self').
// Lists refresh themselves: every few seconds the page's own URL is fetched
// and the table marked data-refresh="on" is replaced with the new one. The
// pages work without it (reload to refresh).
"use strict";
(function () {
  var table = document.querySelector("table[data-refresh='on']");
  if (table && table.id && window.fetch && window.DOMParser) {
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById(table.id);
          var current = document.getElementById(table.id);
          if (fresh && current) {
            current.replaceWith(document.importNode(fresh, true));
          }
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, 2000);
  }
  // Preview: a chosen file fills the text box, so it can be read and edited
  // before it is sent (without JavaScript the file is uploaded as is).
  var file = document.querySelector("#preview-form input[type=file]");
  var text = document.getElementById("config");
  if (file && text && window.FileReader) {
    file.addEventListener("change", function () {
      if (!file.files.length) { return; }
      var reader = new FileReader();
      reader.onload = function () { text.value = String(reader.result); file.value = ""; };
      reader.readAsText(file.files[0]);
    });
  }
})();
