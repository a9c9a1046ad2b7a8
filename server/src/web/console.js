// The console works without this file; it adds local times, sorting by
// clicking a column header, and live updates of pages that offer them.
"use strict";

// ISO 8601 to the second at the browser's own offset: 2026-01-18T19:44:59+01:00.
function isoLocal(at) {
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const offset = -at.getTimezoneOffset();
  const zone = offset === 0 ? "Z"
    : `${offset < 0 ? "-" : "+"}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}` +
    `T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}${zone}`;
}

// Times arrive in UTC; show them at the browser's offset (UTC on hover).
function localTimes(root) {
  for (const el of root.querySelectorAll("time[datetime]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) el.textContent = isoLocal(at);
  }
}

// Click a header of a sortable table to sort its rows (again: reverse).
function sortableTables(root) {
  for (const table of root.querySelectorAll("table.sortable")) {
    table.querySelectorAll("thead th").forEach((th, column) => {
      th.addEventListener("click", (event) => {
        if (event.target.closest("a")) return;
        const body = table.tBodies[0];
        const ascending = th.dataset.order !== "asc";
        th.dataset.order = ascending ? "asc" : "desc";
        const key = (row) => {
          const cell = row.cells[column];
          const time = cell && cell.querySelector("time");
          const text = time ? time.getAttribute("datetime") : (cell ? cell.textContent.trim() : "");
          const number = Number(text);
          return text !== "" && !isNaN(number) ? number : text;
        };
        const rows = Array.from(body.rows);
        rows.sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return ascending ? order : -order;
        });
        rows.forEach((row) => body.appendChild(row));
      });
    });
  }
}

// What the reader is in the middle of survives a live refresh: an opened
// rollback panel stays open, a form being filled in keeps what was typed.
function keepInProgress(old, fresh) {
  const twin = (form) =>
    [...fresh.querySelectorAll("form.act")].find((f) => f.getAttribute("action") === form.getAttribute("action"));
  for (const details of old.querySelectorAll("details[open]")) {
    const form = details.querySelector("form.act");
    const other = form && twin(form);
    if (other && other.closest("details")) other.closest("details").open = true;
  }
  for (const form of old.querySelectorAll("form.act")) {
    if (!form.dataset.dirty && !form.contains(document.activeElement)) continue;
    const other = twin(form);
    if (other) other.replaceWith(form);
  }
}

// A page with data-live re-reads itself when the server says it changed.
function live() {
  const main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) return;
  // One refresh at a time; a change during one triggers another after it.
  let running = false;
  let again = false;
  const refresh = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (response.ok) {
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const fresh = page.querySelector("main");
        if (fresh) {
          const old = document.querySelector("main");
          keepInProgress(old, fresh);
          old.replaceWith(fresh);
          localTimes(fresh);
          sortableTables(fresh);
        }
      }
    } finally {
      running = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  };
  const source = new EventSource(main.dataset.live);
  source.addEventListener("changed", refresh);
  // The browser reconnects by itself after the server went away (a restart,
  // a replica replaced); whatever changed meanwhile was never announced, so
  // a reconnection re-reads the page once.
  let connected = false;
  source.addEventListener("open", () => {
    if (connected) refresh();
    connected = true;
  });
  document.documentElement.dataset.live = "connected";
}

document.addEventListener("input", (event) => {
  if (event.target.form) event.target.form.dataset.dirty = "1";
});

document.addEventListener("DOMContentLoaded", () => {
  localTimes(document);
  sortableTables(document);
  live();
});
