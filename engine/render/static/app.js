// Small enhancements of the generated pages; every page works without them.
(function () {
  "use strict";
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
