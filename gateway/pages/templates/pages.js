// Gatehouse's hosted pages work without JavaScript; this adds the
// conveniences that need it: copying recovery codes.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.innerText.trim()).then(function () {
        var status = document.getElementById(button.getAttribute("data-status"));
        if (status) status.textContent = button.getAttribute("data-done");
      });
    });
  });
});
