// Switchboard's small client side: toasts, busy buttons, key/value rows, select-all, and streamed test runs.
(function () {
  "use strict";

  function toast(text, level) {
    var box = document.getElementById("toasts");
    if (!box) {
      box = document.createElement("div");
      box.id = "toasts";
      box.setAttribute("aria-live", "polite");
      document.body.appendChild(box);
    }
    var p = document.createElement("p");
    p.className = "flash flash-" + (level || "success");
    p.setAttribute("role", level === "error" ? "alert" : "status");
    p.textContent = text;
    box.appendChild(p);
    setTimeout(function () { p.remove(); }, 6000);
  }

  document.body.addEventListener("showMessage", function (e) { toast(e.detail.text, e.detail.level); });
  document.body.addEventListener("htmx:responseError", function (e) {
    toast("The server could not complete that (HTTP " + e.detail.xhr.status + "). Try again, or reload the page.", "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("Switchboard did not answer. Check that it is running, then try again.", "error");
  });

  // The button that started a request shows Pico's spinner until the answer arrives.
  function busyButton(elt) {
    if (elt.tagName === "BUTTON") return elt;
    if (elt.tagName === "FORM") return elt.querySelector("button[type=submit]");
    return null;
  }
  document.body.addEventListener("htmx:beforeRequest", function (e) {
    var b = busyButton(e.detail.elt);
    if (b) b.setAttribute("aria-busy", "true");
    if (e.detail.elt.classList.contains("run-test")) {
      startWaiting(e.detail.elt, function () { htmx.trigger(e.detail.elt, "htmx:abort"); });
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (e) {
    var b = busyButton(e.detail.elt);
    if (b) b.removeAttribute("aria-busy");
    if (e.detail.elt.classList.contains("run-test")) stopWaiting(e.detail.elt);
  });

  // A test run shows how long it has been waiting, and Cancel stops waiting (a streamed run stops too).
  function startWaiting(button, abort) {
    var progress = button.closest(".test-pane").querySelector(".run-progress");
    if (!progress) return;
    var elapsed = progress.querySelector(".elapsed");
    var started = Date.now();
    progress.hidden = false;
    elapsed.textContent = "0.0 s";
    progress.timer = setInterval(function () {
      elapsed.textContent = ((Date.now() - started) / 1000).toFixed(1) + " s";
    }, 100);
    progress.querySelector(".cancel-run").onclick = function () {
      abort();
      stopWaiting(button);
      document.getElementById("test-result").innerHTML =
        '<article class="result result-error" data-status="cancelled"><header><span class="badge badge-error">cancelled</span> ' +
        "Stopped waiting after " + elapsed.textContent + ". A streamed run stops too; any other run finishes on the " +
        "server and appears in Recent runs.</header></article>";
    };
  }
  function stopWaiting(button) {
    var progress = button.closest(".test-pane") && button.closest(".test-pane").querySelector(".run-progress");
    if (!progress) return;
    clearInterval(progress.timer);
    progress.hidden = true;
    button.removeAttribute("aria-busy");
  }

  document.addEventListener("click", function (e) {
    var add = e.target.closest(".kv-add");
    if (add) {
      var set = add.closest("fieldset.kv");
      set.querySelector(".kv-rows").appendChild(set.querySelector("template").content.cloneNode(true));
      var rows = set.querySelectorAll(".kv-row input");
      if (rows.length) rows[rows.length - 2].focus();
      return;
    }
    var remove = e.target.closest(".kv-remove");
    if (remove) remove.closest(".kv-row").remove();
  });

  // Fields declared with show_when appear only while the fields they follow hold one of the listed
  // values; hidden ones are disabled so they are not posted (without JavaScript every field shows).
  function currentValue(form, name) {
    var value = "";
    form.querySelectorAll('[name="' + CSS.escape(name) + '"]').forEach(function (el) {
      if (el.type === "checkbox") { if (el.checked) value = el.value; }
      else if (el.type === "hidden") { if (value === "") value = el.value; }
      else value = el.value;
    });
    return value;
  }
  function applyShowWhen() {
    document.querySelectorAll("[data-show-when]").forEach(function (field) {
      var form = field.closest("form");
      if (!form) return;
      var rules = JSON.parse(field.dataset.showWhen);
      var show = Object.keys(rules).every(function (name) { return rules[name].indexOf(currentValue(form, name)) !== -1; });
      field.hidden = !show;
      field.querySelectorAll("input, select, textarea, button").forEach(function (el) { el.disabled = !show; });
    });
  }
  // Enter in a test-pane field runs the test; left alone it would submit the connector form (a save).
  // A field marked data-enter-event gets an "enter" event instead (hx-trigger="enter"): no inline script
  // or trigger filter, which the Content-Security-Policy would refuse.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || e.isComposing || e.target.tagName !== "INPUT") return;
    if (e.target.hasAttribute("data-enter-event")) {
      e.preventDefault();
      htmx.trigger(e.target, "enter");
      return;
    }
    var pane = e.target.closest(".test-pane");
    var run = pane && pane.querySelector(".run-test");
    if (!run) return;
    e.preventDefault();
    run.click();
  });

  // Copy buttons (a new API key) and read-only fields that select themselves when focused.
  document.addEventListener("click", function (e) {
    var button = e.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    source.select();
    navigator.clipboard.writeText(source.value).then(function () {
      button.textContent = "Copied";
    }, function () {
      toast("The browser refused to copy; the text is selected, press Ctrl+C.", "warning");
    });
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.matches("[data-select-on-focus]")) e.target.select();
  });

  // A field's error goes once the field is changed; after a refused submit, focus goes to the first bad field.
  document.addEventListener("input", function (e) {
    var field = e.target.closest(".field");
    if (!field || !e.target.matches("[aria-invalid=true]")) return;
    e.target.removeAttribute("aria-invalid");
    field.querySelectorAll(".error-text").forEach(function (el) { el.remove(); });
  });
  function focusFirstInvalid(root) {
    var bad = root.querySelector && root.querySelector("form [aria-invalid=true]");
    if (bad) bad.focus();
  }
  document.body.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail && e.detail.target;
    if (target && target.id === "test-result") return;  // a test run must not move the person's focus
    focusFirstInvalid(document);
  });
  document.addEventListener("DOMContentLoaded", function () { focusFirstInvalid(document); });

  document.addEventListener("input", applyShowWhen);
  document.addEventListener("change", applyShowWhen);
  htmx.onLoad(applyShowWhen);

  // "Delete selected" is offered only while something is ticked (without JavaScript the server says so).
  function syncBulkDelete() {
    var button = document.getElementById("bulk-delete");
    if (button) button.disabled = !document.querySelector("#bulk input[name='ids']:checked");
  }
  document.addEventListener("change", function (e) {
    var all = e.target.closest("[data-select-all]");
    if (all) {
      var form = all.closest("form");
      form.querySelectorAll("input[name='" + all.dataset.selectAll + "']").forEach(function (box) { box.checked = all.checked; });
    }
    syncBulkDelete();
  });
  htmx.onLoad(syncBulkDelete);

  // Back restores a saved copy of the page (htmx) or the page itself (the browser's cache), either of
  // which may hold the filters of another moment: a form marked data-follows-url takes them from the URL.
  function filtersFromUrl() {
    var query = new URLSearchParams(location.search);
    document.querySelectorAll("form[data-follows-url]").forEach(function (form) {
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (el.type === "hidden" || el.type === "checkbox") return;
        el.value = query.get(el.name) || "";
      });
    });
  }
  document.body.addEventListener("htmx:historyRestore", filtersFromUrl);
  window.addEventListener("pageshow", filtersFromUrl);

  // Streaming sub-actions (e.g. Bedrock invokeStream): POST with fetch and show text as it arrives.
  document.body.addEventListener("htmx:confirm", function (e) {
    var button = e.detail.elt;
    if (!button.dataset || !button.dataset.streamUrl) return;
    var params = document.getElementById("params-fields");
    if (!params || params.dataset.streams !== "true") return;
    e.preventDefault();
    runStream(button, button.closest("form"));
  });

  function runStream(button, form) {
    var target = document.getElementById("test-result");
    target.innerHTML = '<article class="result" data-status="streaming"><header><span class="badge">streaming…</span></header><pre class="streamed" id="stream-output"></pre></article>';
    var out = document.getElementById("stream-output");
    var csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
    var controller = new AbortController();
    var cancelled = false;
    button.setAttribute("aria-busy", "true");
    startWaiting(button, function () { cancelled = true; controller.abort(); });
    fetch(button.dataset.streamUrl, {
      method: "POST",
      signal: controller.signal,
      body: new FormData(form),
      headers: { "Accept": "text/event-stream", "X-CSRFToken": csrf, "HX-Request": "true" }
    }).then(function (response) {
      if (!response.ok || !response.body) {
        return response.text().then(function (html) { target.innerHTML = html || ("HTTP " + response.status); });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function handle(frame) {
        var name = "message", data = [];
        frame.split("\n").forEach(function (line) {
          if (line.indexOf("event: ") === 0) name = line.slice(7);
          else if (line.indexOf("data: ") === 0) data.push(line.slice(6));
        });
        if (name === "delta") out.textContent += JSON.parse(data.join("\n"));
        else if (name === "result") {
          target.innerHTML = data.join("\n");
          htmx.process(target);
          htmx.trigger(document.body, "runFinished");
        }
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(handle);
          return pump();
        });
      }
      return pump();
    }).catch(function (err) {
      if (!cancelled) toast("The test run was interrupted: " + err.message, "error");
    }).finally(function () { stopWaiting(button); });
  }
})();
