// Webhook - Case Management's template fields: a click on a variable inserts its {{{tag}}} into its own field,
// at the caret (at the end when the field was never focused), as Kibana's variable picker does.
(function () {
  "use strict";
  // Every template field brings this script; the first copy to run listens for all of them.
  if (window.casesWebhookVariables) return;
  window.casesWebhookVariables = true;

  document.addEventListener("focusin", function (e) {
    if (e.target.matches && e.target.matches("input, textarea")) e.target.dataset.caretKnown = "1";
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button.template-variable[data-insert]");
    if (!button) return;
    var field = document.getElementById(button.dataset.target);
    if (!field || field.disabled) return;
    var known = field.dataset.caretKnown === "1" && field.selectionStart !== null;
    var start = known ? field.selectionStart : field.value.length;
    var end = known ? field.selectionEnd : field.value.length;
    field.setRangeText(button.dataset.insert, start, end, "end");
    field.focus();
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
