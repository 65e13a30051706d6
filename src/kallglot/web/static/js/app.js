// Entry point: wires the widgets of the page, and of content htmx swaps in.
import { api, flash } from "./api.js";
import { initWidgets } from "./widgets.js";

async function init(root) {
  initWidgets(root);
  const main = root.matches?.("main") ? root : root.querySelector("main");
  if (main?.dataset.title) document.title = main.dataset.title;
  const login = root.querySelector("[data-login]");
  if (login) (await import("./login.js")).initLogin(login);
  const console_ = root.querySelector("[data-console]");
  if (console_) (await import("./console.js")).initConsole(console_);
  const charts = root.querySelector("[data-analytics]");
  if (charts) (await import("./analytics.js")).initAnalytics(charts);
  const keys = root.querySelector("[data-security-keys]");
  if (keys) (await import("./webauthn.js")).initSecurityKeys(keys);
  const privacy = root.querySelector("[data-privacy]");
  if (privacy) (await import("./privacy.js")).initPrivacy(privacy);
}

async function tailorNavigation() {
  const items = document.querySelectorAll("#sidenav [data-permission]");
  if (!items.length) return;
  const me = await api("GET", "/v1/auth/me");
  for (const item of items) item.hidden = !me.permissions.includes(item.dataset.permission);
  for (const list of document.querySelectorAll("#sidenav ul")) {
    list.previousElementSibling.hidden = ![...list.children].some((item) => !item.hidden);
  }
}

function initChrome() {
  tailorNavigation().catch(() => {
    // Signed out: the page's own API calls send the visitor to the sign-in page.
  });
  document.querySelector("[data-logout]")?.addEventListener("click", async (event) => {
    try {
      await api("POST", "/v1/auth/logout");
      window.location.assign("/app/login");
    } catch (error) {
      flash(event.target, error.message);
    }
  });
  const toggle = document.querySelector(".menu-toggle");
  toggle?.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById("sidenav").classList.toggle("open", open);
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    for (const link of document.querySelectorAll("#sidenav a")) {
      if (link.pathname === window.location.pathname) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  });
}

initChrome();
if (window.htmx) window.htmx.onLoad((element) => init(element));
else init(document);
