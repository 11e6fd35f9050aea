// The invoice form's customer picker (templates/customers/_picker.html). Without this file the picker is
// three plain fields; with it, a search box whose results (from /customers/search, through htmx) fill them.
(function () {
  "use strict";

  function fields(picker) {
    var found = {};
    picker.querySelectorAll("[data-customer-field]").forEach(function (input) {
      found[input.getAttribute("data-customer-field")] = input;
    });
    return found;
  }

  function reveal() {
    document.querySelectorAll("[data-customer-picker] [data-picker-search]").forEach(function (el) {
      el.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-customer-option]");
    if (!option) { return; }
    var picker = option.closest("[data-customer-picker]");
    var inputs = fields(picker);
    ["id", "name", "email", "phone"].forEach(function (key) {
      inputs[key].value = option.getAttribute("data-customer-" + key) || "";
    });
    option.closest(".picker-results").innerHTML = "";
    picker.querySelector("input[type=search]").value = "";
    inputs.email.focus();
  });

  // Typing over a chosen customer's details makes them a new customer's: forget the id.
  document.addEventListener("input", function (event) {
    var key = event.target.getAttribute("data-customer-field");
    if (key && key !== "id") {
      fields(event.target.closest("[data-customer-picker]")).id.value = "";
    }
  });

  // Enter in the search box searches; it must not submit the invoice form around it.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches("[data-customer-picker] input[type=search]")) {
      event.preventDefault();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }
})();
