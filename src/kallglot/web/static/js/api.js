// The /v1 API from the browser: session cookie, CSRF header, the error envelope.

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `Request failed (${status}).`);
    this.status = status;
    this.code = error.code || "unknown_error";
    this.param = error.param || null;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)kallglot_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Calls the API; resolves to the JSON answer (null for 204), rejects with ApiError. */
export async function api(method, path, body, { raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 401 && !path.startsWith("/v1/auth/")) {
    window.location.assign(`/app/login?next=${encodeURIComponent(window.location.pathname)}`);
  }
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      error = { message: `The server answered ${response.status}.` };
    }
    throw new ApiError(response.status, error);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** True when the server has no such API route (a feature not installed here). */
export function isMissingApi(error) {
  return error instanceof ApiError && error.status === 404 && error.code === "route_not_found";
}

/** Shows a message in the page's flash area (errors show the envelope's message). */
export function flash(root, message, kind = "error") {
  const box = root.closest("main")?.querySelector("[data-flash]") || document.querySelector("[data-flash]");
  if (!box) return;
  box.textContent = message;
  box.className = `flash ${kind}`;
  box.hidden = false;
}

export function clearFlash(root) {
  const box = root.closest("main")?.querySelector("[data-flash]");
  if (box) box.hidden = true;
}

const DATE_KEYS = /(_at|_until|^since|^until|occurred|^date)$/;

/** A value as text for a table cell. */
export function display(key, value) {
  if (value === null || value === undefined || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.map((v) => display("", v)).join(", ") : "—";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "string" && DATE_KEYS.test(key)) {
    const date = new Date(value);
    if (!Number.isNaN(date.getTime())) return date.toLocaleString();
  }
  return String(value);
}

export function pick(item, path) {
  return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), item);
}
