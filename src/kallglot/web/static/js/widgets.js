// Declarative widgets of the admin pages: lists, forms, option lists and fact sheets, all
// read and written through the /v1 API.
import { api, clearFlash, display, flash, isMissingApi, pick } from "./api.js";

function unavailable(api_path) {
  const box = document.createElement("div");
  box.className = "unavailable";
  box.setAttribute("role", "status");
  box.dataset.unavailable = "";
  const strong = document.createElement("strong");
  strong.textContent = "Not available on this server. ";
  const span = document.createElement("span");
  span.textContent = `This needs ${api_path}, which this installation does not provide yet.`;
  box.append(strong, span);
  return box;
}

function fillPath(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(values[key] ?? ""));
}

// ---- lists -------------------------------------------------------------------------

const tableQueries = new Map();

export async function loadTable(table, { append = false } = {}) {
  const columns = JSON.parse(table.dataset.columns);
  const actions = JSON.parse(table.dataset.actions || "[]");
  const body = table.tBodies[0];
  const more = document.querySelector(`[data-more-for="${table.id}"]`);
  const query = new URLSearchParams(tableQueries.get(table.id) || "");
  if (append && table.dataset.cursor) query.set("starting_after", table.dataset.cursor);
  const source = table.dataset.source + (query.toString() ? `?${query}` : "");
  let page;
  try {
    page = await api("GET", source);
  } catch (error) {
    if (isMissingApi(error)) {
      table.closest(".table-wrap").replaceWith(unavailable(table.dataset.source));
      return;
    }
    body.replaceChildren(messageRow(columns.length + (actions.length ? 1 : 0), error.message, "error"));
    return;
  }
  const items = Array.isArray(page) ? page : page.data;
  if (!append) body.replaceChildren();
  for (const item of items) body.append(itemRow(table, item, columns, actions));
  if (!body.rows.length) {
    body.append(messageRow(columns.length + (actions.length ? 1 : 0), table.dataset.empty, "muted"));
  }
  table.dataset.cursor = page.next_cursor || "";
  if (more) more.hidden = !page.has_more;
}

function messageRow(span, text, kind) {
  const row = document.createElement("tr");
  const cell = row.insertCell();
  cell.colSpan = span;
  cell.className = kind;
  cell.textContent = text;
  return row;
}

function itemRow(table, item, columns, actions) {
  const row = document.createElement("tr");
  row.dataset.id = item.id || "";
  for (const [key] of columns) {
    const cell = row.insertCell();
    cell.textContent = display(key, pick(item, key));
  }
  if (actions.length) {
    const cell = row.insertCell();
    cell.className = "actions";
    for (const [label, method, path] of actions) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = method === "DELETE" ? "danger small" : "secondary small";
      button.textContent = label;
      button.setAttribute("aria-label", `${label} ${item.email || item.name || item.id || ""}`.trim());
      button.addEventListener("click", async () => {
        if (method === "DELETE" && !window.confirm(`${label}?`)) return;
        button.disabled = true;
        try {
          await api(method, fillPath(path, item), method === "DELETE" ? undefined : {});
          clearFlash(table);
          await loadTable(table);
        } catch (error) {
          flash(table, error.message);
          button.disabled = false;
        }
      });
      cell.append(button);
    }
  }
  return row;
}

// ---- forms -------------------------------------------------------------------------

function convert(input) {
  const value = input.value.trim();
  switch (input.dataset.type) {
    case "number":
      return Number(value);
    case "list":
      return value.split(",").map((part) => part.trim()).filter(Boolean);
    case "datetime":
      return new Date(value).toISOString();
    default:
      return value;
  }
}

/** The form as the API's JSON body, plus the values used in the path and the query. */
function formBody(form) {
  const body = {};
  const pathValues = {};
  const query = new URLSearchParams();
  let file = null;
  const template = form.dataset.api;
  for (const input of form.elements) {
    if (!input.name || input.disabled) continue;
    if (input.type === "file") {
      file = input.files[0] || null;
      continue;
    }
    if (input.type === "checkbox") {
      body[input.name] = input.checked;
      continue;
    }
    if (input.value.trim() === "") continue;
    const value = convert(input);
    if (template.includes(`{${input.name}}`)) {
      pathValues[input.name] = value;
    } else if ("query" in input.dataset || form.dataset.method === "GET") {
      query.set(input.name, value);
    } else {
      const keys = input.name.split(".");
      let target = body;
      for (const key of keys.slice(0, -1)) target = target[key] ??= {};
      target[keys.at(-1)] = value;
    }
  }
  if ("tokenFromUrl" in form.dataset) {
    // Mailed links carry the token in the fragment, which never reaches a server or a log.
    const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get("token");
    body.token = fromFragment || new URLSearchParams(window.location.search).get("token") || "";
  }
  const path = fillPath(template, pathValues) + (query.toString() ? `?${query}` : "");
  return { path, body: file || body };
}

function showResult(form, result) {
  form.querySelector("[data-result]")?.remove();
  const fields = form.dataset.showResult;
  if (!fields || !result) return;
  const list = document.createElement("dl");
  list.className = "result";
  list.dataset.result = "";
  for (const key of fields.split(",")) {
    const term = document.createElement("dt");
    term.textContent = key.replaceAll("_", " ");
    const detail = document.createElement("dd");
    const code = document.createElement("code");
    code.textContent = display(key, result[key]);
    detail.append(code);
    list.append(term, detail);
  }
  form.append(list);
}

async function submitForm(form, event) {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const method = form.dataset.method || "POST";
  const { path, body } = formBody(form);
  const button = form.querySelector("[type=submit]");
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const result = await api(method, path, method === "GET" ? undefined : body);
    clearFlash(form);
    if (form.dataset.success) flash(form, form.dataset.success, "success");
    showResult(form, result);
    if (form.dataset.refresh) await loadTable(document.getElementById(form.dataset.refresh));
    // Option lists drawn from what just changed (a new bundle, member, number) follow it.
    for (const select of document.querySelectorAll("select[data-options]")) {
      if (path.startsWith(select.dataset.options)) loadOptions(select);
    }
    if (form.dataset.then) setTimeout(() => window.location.assign(form.dataset.then), 1500);
    form.dispatchEvent(new CustomEvent("api:done", { detail: result, bubbles: true }));
  } catch (error) {
    flash(form, error.message);
    const field = error.param && form.querySelector(`[name="${error.param}"]`);
    if (field) field.focus();
  } finally {
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

async function loadFormValues(form) {
  try {
    const current = await api("GET", form.dataset.load);
    for (const input of form.elements) {
      if (!input.name || !(input.name in current)) continue;
      if (input.type === "checkbox") input.checked = Boolean(current[input.name]);
      else input.value = current[input.name] ?? "";
    }
  } catch (error) {
    flash(form, error.message);
  }
}

// ---- option lists and fact sheets ---------------------------------------------------

async function loadOptions(select) {
  try {
    const page = await api("GET", `${select.dataset.options}?limit=100`);
    const valueKey = select.dataset.optionValue || "id";
    const options = page.data.map((item) => new Option(pick(item, select.dataset.optionLabel), item[valueKey]));
    if ("optional" in select.dataset) options.unshift(new Option("— none —", ""));
    // An empty list says what to do next (the empty value keeps a required form unsent).
    if (!options.length && select.dataset.empty) options.push(new Option(select.dataset.empty, ""));
    select.replaceChildren(...options);
  } catch (error) {
    select.replaceChildren(new Option(isMissingApi(error) ? "not available" : error.message, ""));
  }
}

async function loadFacts(list) {
  try {
    const facts = await api("GET", list.dataset.facts);
    list.replaceChildren();
    for (const [key, label] of JSON.parse(list.dataset.fields)) {
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = display(key, pick(facts, key));
      list.append(term, detail);
    }
  } catch (error) {
    if (isMissingApi(error)) list.replaceWith(unavailable(list.dataset.facts));
    else flash(list, error.message);
  }
}

function bindFilter(form) {
  const table = document.getElementById(form.dataset.filterFor);
  const exportLink = form.querySelector(`[data-export-for="${table.id}"]`);
  const exportBase = exportLink?.getAttribute("href");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const input of form.elements) {
      if (input.name && input.value.trim()) query.set(input.name, convert(input));
    }
    tableQueries.set(table.id, query.toString());
    if (exportLink) exportLink.href = `${exportBase}?${query}`;
    loadTable(table);
  });
}

/** Wires every widget inside `root` (the page, or content htmx just swapped in). */
export function initWidgets(root) {
  for (const table of root.querySelectorAll("table[data-source]")) {
    loadTable(table);
    document
      .querySelector(`[data-more-for="${table.id}"]`)
      ?.addEventListener("click", () => loadTable(table, { append: true }));
  }
  for (const form of root.querySelectorAll("form[data-api]")) {
    form.addEventListener("submit", (event) => submitForm(form, event));
    if (form.dataset.load) loadFormValues(form);
  }
  for (const form of root.querySelectorAll("form[data-filter-for]")) bindFilter(form);
  for (const select of root.querySelectorAll("select[data-options]")) loadOptions(select);
  for (const list of root.querySelectorAll("[data-facts]")) loadFacts(list);
}
