// Entry point: wires the widgets of the page, and of content htmx swaps in.
import { api, flash } from "./api.js";
import { initWidgets } from "./widgets.js";

async function init(root) {
  const main = root.matches?.("main") ? root : root.querySelector("main");
  refuseUnusablePage(main);
  initWidgets(root);
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

let permissions = null;

async function tailorNavigation() {
  const items = document.querySelectorAll("#sidenav [data-permission]");
  if (!items.length) return;
  permissions = (await api("GET", "/v1/auth/me")).permissions;
  for (const item of items) item.hidden = !permissions.includes(item.dataset.permission);
  for (const list of document.querySelectorAll("#sidenav ul")) {
    list.previousElementSibling.hidden = ![...list.children].some((item) => !item.hidden);
  }
  refuseUnusablePage(document.querySelector("main"));
}

// A page reached by its address without the permission it needs says so and where to go,
// instead of showing its widgets empty under a refusal.
function refuseUnusablePage(main) {
  const needed = main?.dataset.permission;
  if (!needed || !permissions || permissions.includes(needed)) return;
  const note = document.createElement("p");
  note.className = "empty";
  note.dataset.noAccess = "";
  note.setAttribute("role", "alert"); // read out at once: the page has nothing else to offer
  note.append(`Your role does not include ${needed}. Ask an administrator, or go back to `);
  const back = document.createElement("a");
  back.href = permissions.includes("sessions:write") ? "/app/console" : "/app/account";
  back.textContent = back.pathname === "/app/console" ? "the console" : "your account";
  note.append(back, ".");
  main.replaceChildren(main.querySelector("h1"), note);
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
