// Small progressive enhancements; every form also works without this file.
(function () {
  "use strict";

  // Phones: the sections fold behind the Menu button; it opens and closes them.
  var navToggle = document.querySelector(".nav-toggle");
  if (navToggle) {
    document.documentElement.classList.add("js-nav");
    navToggle.hidden = false;
    navToggle.addEventListener("click", function () {
      var open = document.getElementById(navToggle.getAttribute("aria-controls")).classList.toggle("open");
      navToggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  function renumber(tbody) {
    tbody.querySelectorAll("[data-line-row]").forEach(function (row, index) {
      row.querySelectorAll("input, select").forEach(function (input) {
        input.name = input.name.replace(/^items-\d+-/, "items-" + index + "-");
        input.id = input.name;
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/^Line \d+/, "Line " + (index + 1)));
      });
    });
  }

  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-line]");
    if (add) {
      var tbody = add.closest("form").querySelector("[data-line-rows]");
      var last = tbody.querySelector("[data-line-row]:last-child");
      var row = last.cloneNode(true);
      row.querySelectorAll("input").forEach(function (input) { input.value = input.name.endsWith("quantity") ? "1" : ""; });
      row.querySelectorAll("select").forEach(function (select) { select.selectedIndex = 0; });
      row.querySelectorAll(".field-error").forEach(function (el) { el.remove(); });
      row.querySelectorAll("[autofocus]").forEach(function (el) { el.removeAttribute("autofocus"); });
      row.querySelectorAll("[aria-invalid]").forEach(function (el) {
        el.removeAttribute("aria-invalid");
        el.removeAttribute("aria-describedby");
      });
      tbody.appendChild(row);
      renumber(tbody);
      showRemoveButtons(tbody);
      row.querySelector("input").focus();
      event.preventDefault();
      return;
    }
    var remove = event.target.closest("[data-remove-line]");
    if (remove) {
      var body = remove.closest("[data-line-rows]");
      if (body.querySelectorAll("[data-line-row]").length > 1) {
        remove.closest("[data-line-row]").remove();
        renumber(body);
        showRemoveButtons(body);
        // The running total listens for this: a removed line changes it without any input event.
        document.body.dispatchEvent(new CustomEvent("lines-changed"));
      }
      return;
    }
    var copy = event.target.closest("[data-copy]");
    if (copy && navigator.clipboard) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      navigator.clipboard.writeText(source.value || source.textContent.trim()).then(function () {
        copy.textContent = "Copied";
      });
    }
  });

  function showRemoveButtons(tbody) {
    var many = tbody.querySelectorAll("[data-line-row]").length > 1;
    tbody.querySelectorAll("[data-remove-line]").forEach(function (b) { b.hidden = !many; });
  }

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // A live region polled after the session ended would get the sign-in page swapped into it: go there instead.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr && event.detail.xhr.responseURL;
    if (url && new URL(url).pathname === "/login") {
      event.detail.shouldSwap = false;
      window.location.assign(url);
    }
  });

  // A polled region re-renders its <details> folded; the ones a person opened (by id) stay open.
  var openDetails = [];
  document.addEventListener("htmx:beforeSwap", function (event) {
    openDetails = Array.prototype.map.call(event.detail.target.querySelectorAll("details[open][id]"),
                                           function (d) { return d.id; });
  });
  document.addEventListener("htmx:afterSwap", function () {
    openDetails.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) { details.open = true; }
    });
    openDetails = [];
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-line-rows]").forEach(showRemoveButtons);
  });
})();
