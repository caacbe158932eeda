// roughtrace dashboard: sortable and filterable tables, and an upload's progress followed by polling its job.
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    if (!body) return;
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var nx = parseFloat(x.replace(/[$,%\s]|ct/g, "")), ny = parseFloat(y.replace(/[$,%\s]|ct/g, ""));
      var order = (!isNaN(nx) && !isNaN(ny) && /^[-$\d.,\s%ct]+$/.test(x) && /^[-$\d.,\s%ct]+$/.test(y))
        ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function sortable(table) {
    if (!table.tHead) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      th.title = "Sort by " + th.textContent.trim();
      th.addEventListener("click", function () { sortBy(table, index, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, index, th); }
      });
    });
  }

  function filterable(input) {
    var table = document.getElementById(input.getAttribute("data-filter"));
    if (!table || !table.tBodies[0]) return;
    input.addEventListener("input", function () {
      var wanted = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = wanted !== "" && row.textContent.toLowerCase().indexOf(wanted) < 0;
      });
    });
  }

  function follow(statusUrl, pageUrl, state) {
    var tries = 0;
    function poll() {
      var request = new XMLHttpRequest();
      request.open("GET", statusUrl);
      request.setRequestHeader("Accept", "application/json");
      request.onload = function () {
        var job = null;
        try { job = JSON.parse(request.responseText).job; } catch (e) { job = null; }
        if (request.status !== 200 || !job) { window.location.assign(pageUrl); return; }
        state.textContent = "Import " + job.state + (job.rows_read != null ? ": " + job.rows_read + " rows read" : "");
        if (job.state === "done" || job.state === "failed" || ++tries > 600) { window.location.assign(pageUrl); return; }
        window.setTimeout(poll, 300);
      };
      request.onerror = function () { window.location.assign(pageUrl); };
      request.send();
    }
    poll();
  }

  function uploader(form) {
    var progress = form.querySelector(".progress"), bar = form.querySelector("progress"), state = form.querySelector(".state");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", form.action);
      request.setRequestHeader("Accept", "application/json");
      progress.hidden = false;
      state.textContent = "Sending the file…";
      request.upload.onprogress = function (e) {
        if (e.lengthComputable) bar.value = Math.round(100 * e.loaded / e.total);
      };
      request.onload = function () {
        var answer = null;
        try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
        if (request.status === 202 && answer && answer.ok) {
          bar.value = 100;
          state.textContent = "Sent; the import is " + answer.job.state + "…";
          follow(answer.status, answer.page, state);
        } else {
          document.open(); document.write(request.responseText); document.close();
        }
      };
      request.onerror = function () { state.textContent = "The file could not be sent: check the connection and try again."; };
      request.send(new FormData(form));
    });
  }

  function waitForJob(box) {
    var id = box.getAttribute("data-job");
    follow("/jobs/" + encodeURIComponent(id) + "/status", "/jobs/" + encodeURIComponent(id), box.querySelector(".state"));
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), sortable);
    Array.prototype.forEach.call(document.querySelectorAll("input[data-filter]"), filterable);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-upload]"), uploader);
    var job = document.querySelector("[data-job][data-waiting='yes']");
    if (job) waitForJob(job);
  });
}());
