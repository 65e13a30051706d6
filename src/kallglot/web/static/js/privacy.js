// The privacy admin: retention bounds per class, and data-subject requests followed from
// verification to completion (exports show their progress, then a one-time download).
import { api, clearFlash, display, flash } from "./api.js";

const POLL_MS = 700;
const EXPORTS = new Set(["access", "portability"]);
const OPEN = new Set(["received", "verifying", "extended"]);

export function initPrivacy(root) {
  initRetention(root);
  const table = root.querySelector("[data-subject-requests]");
  if (!table) return;
  const requests = new SubjectRequests(table, root.querySelector("[data-attest-dialog]"));
  root.querySelector("[data-new-request]")?.addEventListener("api:done", () => requests.load());
  requests.load();
}

// ---- retention ---------------------------------------------------------------------

async function initRetention(root) {
  const select = root.querySelector("[data-retention-classes]");
  const bounds = root.querySelector("[data-retention-bounds]");
  if (!select) return;
  let changeable = [];
  const describe = () => {
    const policy = changeable.find((p) => p.retention_class === select.value);
    if (!policy) return;
    const range = `Allowed: ${policy.min_days} to ${policy.max_days ?? "any number of"} days.`;
    bounds.textContent = `${range} Now ${display("days", policy.days)} (default ${display("days", policy.default_days)}).`;
  };
  const load = async () => {
    try {
      const policies = await api("GET", "/v1/privacy/retention");
      // Only periods kept by age and with bounds can be changed; the others are fixed by law.
      changeable = policies.filter((p) => p.min_days != null);
    } catch (error) {
      flash(select, error.message);
      return;
    }
    const chosen = select.value;
    select.replaceChildren(
      ...changeable.map((p) => new Option(`${p.retention_class} — ${p.description}`, p.retention_class)),
    );
    if (chosen) select.value = chosen;
    describe();
  };
  select.addEventListener("change", describe);
  select.form.addEventListener("api:done", load);
  await load();
}

// ---- data-subject requests ----------------------------------------------------------

function dueText(request) {
  const due = new Date(request.due_at);
  if (!OPEN.has(request.status) && request.status !== "in_progress") return display("due_at", request.due_at);
  const days = Math.ceil((due.getTime() - Date.now()) / 86_400_000);
  const when = due.toLocaleDateString();
  if (days < 0) return `${when} (overdue by ${-days} d)`;
  return `${when} (in ${days} d)`;
}

class SubjectRequests {
  constructor(table, dialog) {
    this.table = table;
    this.body = table.tBodies[0];
    this.dialog = dialog;
    this.polling = new Map();
  }

  async load() {
    let requests;
    try {
      requests = await api("GET", "/v1/privacy/requests");
    } catch (error) {
      this.body.replaceChildren(this.message(error.message, "error"));
      return;
    }
    this.body.replaceChildren(...requests.map((request) => this.row(request)));
    if (!requests.length) this.body.append(this.message("No requests.", "muted"));
    for (const request of requests) if (request.status === "in_progress") this.follow(request.id);
  }

  message(text, kind) {
    const row = document.createElement("tr");
    const cell = row.insertCell();
    cell.colSpan = 6;
    cell.className = kind;
    cell.textContent = text;
    return row;
  }

  row(request) {
    const row = document.createElement("tr");
    row.dataset.id = request.id;
    row.dataset.status = request.status;
    row.insertCell().textContent = request.type;
    const status = row.insertCell();
    status.textContent = request.status.replaceAll("_", " ");
    if (request.rejection_reason) status.title = request.rejection_reason;
    const received = row.insertCell();
    received.textContent = display("received_at", request.received_at);
    const due = row.insertCell();
    due.textContent = dueText(request);
    if (due.textContent.includes("overdue")) due.className = "error";
    const progressCell = row.insertCell();
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = request.progress;
    bar.setAttribute("aria-label", `Progress of the ${request.type} request`);
    const percent = document.createElement("span");
    percent.textContent = ` ${request.progress} %`;
    percent.dataset.percent = "";
    progressCell.append(bar, percent);
    const actions = row.insertCell();
    actions.className = "actions";
    for (const [label, handler] of this.actionsFor(request)) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = label;
      button.setAttribute("aria-label", `${label}: ${request.type} request received ${received.textContent}`);
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await handler();
          clearFlash(this.table);
        } catch (error) {
          flash(this.table, error.message);
        } finally {
          button.disabled = false;
        }
      });
      actions.append(button);
    }
    return row;
  }

  actionsFor(request) {
    const path = `/v1/privacy/requests/${encodeURIComponent(request.id)}`;
    const actions = [];
    if (OPEN.has(request.status) && !request.verified_at) {
      actions.push(["Verify", () => this.attest(path)]);
    }
    if (OPEN.has(request.status) && request.verified_at) {
      actions.push([
        EXPORTS.has(request.type) ? "Start export" : "Carry out",
        async () => {
          await api("POST", `${path}/execute`, {});
          await this.load();
        },
      ]);
    }
    if (request.status === "completed" && EXPORTS.has(request.type)) {
      actions.push(["Download export", () => this.download(path)]);
    }
    return actions;
  }

  attest(path) {
    const form = this.dialog.querySelector("[data-attest-form]");
    const note = form.elements.note;
    note.value = "";
    return new Promise((resolve, reject) => {
      const cancel = this.dialog.querySelector("[data-attest-cancel]");
      const done = () => {
        form.removeEventListener("submit", submit);
        cancel.removeEventListener("click", close);
      };
      const close = () => {
        done();
        this.dialog.close();
        resolve();
      };
      const submit = async (event) => {
        event.preventDefault();
        if (!form.reportValidity()) return;
        done();
        this.dialog.close();
        try {
          await api("POST", `${path}/attest`, { note: note.value });
          await this.load();
          resolve();
        } catch (error) {
          reject(error);
        }
      };
      form.addEventListener("submit", submit);
      cancel.addEventListener("click", close);
      this.dialog.showModal();
      note.focus();
    });
  }

  async download(path) {
    const link = await api("POST", `${path}/download-link`, {});
    // The link is one-time: the browser downloads the ZIP straight away.
    const anchor = document.createElement("a");
    anchor.href = link.url;
    anchor.download = "personal-data.zip";
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  }

  /** Polls a running export and moves its progress bar until it is done. */
  follow(id) {
    if (this.polling.has(id)) return;
    const tick = async () => {
      let request;
      try {
        request = await api("GET", `/v1/privacy/requests/${encodeURIComponent(id)}`);
      } catch (error) {
        this.polling.delete(id);
        flash(this.table, error.message);
        return;
      }
      const row = this.body.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
      if (row) {
        row.querySelector("progress").value = request.progress;
        row.querySelector("[data-percent]").textContent = ` ${request.progress} %`;
      }
      if (request.status === "in_progress") {
        this.polling.set(id, setTimeout(tick, POLL_MS));
      } else {
        this.polling.delete(id);
        await this.load();
      }
    };
    this.polling.set(id, setTimeout(tick, POLL_MS));
  }
}
