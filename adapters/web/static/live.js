// Progressive enhancement: while an incident is open its page follows it. Without
// JavaScript the page is whole as served; a reload shows what is new.
(function () {
  "use strict";
  var article = document.querySelector("article[data-live]");
  if (!article || !window.EventSource) { return; }
  var source = new EventSource(article.getAttribute("data-live"));
  var busy = false;
  source.addEventListener("changed", function () {
    if (busy) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("article.incident");
        var current = document.querySelector("article.incident");
        if (fresh && current) {
          // Keep the preview frame as it is: reloading it on every entry would flicker.
          var frame = current.querySelector("iframe.preview");
          var freshFrame = fresh.querySelector("iframe.preview");
          if (frame && freshFrame) { freshFrame.replaceWith(frame); }
          current.replaceWith(fresh);
          document.body.setAttribute("data-updated", String(Date.now()));
        }
      })
      .catch(function () { /* the next change tries again */ })
      .then(function () { busy = false; });
  });
})();
