/* Admin rule form: show only the parameter rows the chosen condition uses (data-conditions on
   each parameter's widget comes from the condition registry, see alerts/admin.py). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var condition = document.getElementById("id_condition");
    if (!condition) return;
    function update() {
      document.querySelectorAll("[data-conditions]").forEach(function (input) {
        var used = input.getAttribute("data-conditions").split(" ").indexOf(condition.value) !== -1;
        var row = input.closest(".form-row") || input.closest("div");
        if (row) row.style.display = used ? "" : "none";
      });
    }
    condition.addEventListener("change", update);
    update();
  });
})();
