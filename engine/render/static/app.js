// Small enhancements of the generated pages; every page works without them.
(function () {
  "use strict";
  // Times are shown in the viewer's own time zone: tell the server which one it is (the next page
  // uses it; without this cookie the site's zone is used).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone) && document.body.getAttribute("data-tz") !== zone) {
      document.cookie = "gongdan_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser without Intl time zones keeps the site's zone */ }
  // Photo and file previews for attachment inputs, before the form is sent.
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || input.type !== "file" || !input.dataset.preview) return;
    var box = document.getElementById(input.dataset.preview);
    if (!box) return;
    box.replaceChildren();
    Array.prototype.forEach.call(input.files || [], function (file) {
      if (file.type.indexOf("image/") === 0) {
        var img = document.createElement("img");
        img.alt = file.name;
        img.src = URL.createObjectURL(file);
        img.onload = function () { URL.revokeObjectURL(img.src); };
        box.appendChild(img);
      } else {
        var span = document.createElement("span");
        span.className = "tag";
        span.textContent = file.name;
        box.appendChild(span);
      }
    });
  });
})();
