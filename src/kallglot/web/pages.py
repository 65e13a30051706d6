"""Page routes and static files of the web app."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from kallglot.accounts.dependencies import PUBLIC
from kallglot.accounts.permissions import Permission as P
from kallglot.core.errors import NotFoundError

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


@dataclass(frozen=True)
class Page:
    """A page of the app: its address under ``/app/``, its title and its template."""

    slug: str
    title: str
    template: str
    section: str  # "agent" | "admin" | "account" | "public"
    # Shown in the navigation only to those who hold it (the API enforces it regardless).
    permission: P | None = None


PAGES = {
    page.slug: page
    for page in (
        Page("login", "Sign in", "login.html", "public"),
        Page("forgot-password", "Forgot password", "forgot_password.html", "public"),
        Page("reset-password", "Choose a new password", "reset_password.html", "public"),
        Page("invitation", "Accept invitation", "invitation.html", "public"),
        Page("verify-signup", "Confirm your sign-up", "verify_signup.html", "public"),
        Page("console", "Agent console", "console.html", "agent", P.SESSIONS_WRITE),
        Page("history", "Call history", "history.html", "agent", P.CALLS_READ),
        Page("account", "Account and sessions", "account.html", "account"),
        Page("members", "Members and invitations", "admin/members.html", "admin", P.MEMBERS_READ),
        Page("api-keys", "API keys", "admin/api_keys.html", "admin", P.API_KEYS_MANAGE),
        Page("security", "Security policy", "admin/security.html", "admin", P.ORGANIZATION_MANAGE),
        Page("numbers", "Numbers and verification", "admin/numbers.html", "admin", P.NUMBERS_READ),
        Page("routing", "Queues and routing", "admin/routing.html", "admin", P.ROUTING_READ),
        Page("privacy", "Privacy and retention", "admin/privacy.html", "admin", P.PRIVACY_MANAGE),
        Page("audit", "Audit log", "admin/audit.html", "admin", P.AUDIT_READ),
        Page("billing", "Billing", "admin/billing.html", "admin", P.BILLING_READ),
        Page("analytics", "Analytics", "admin/analytics.html", "admin", P.ANALYTICS_READ),
    )
}
NAVIGATION = {
    section: [page for page in PAGES.values() if page.section == section]
    for section in ("agent", "admin", "account")
}

# Pages carry no data (the browser fetches it from /v1 with the visitor's credentials),
# so they are public; the API routes they call each declare their permission.
router = APIRouter(dependencies=[PUBLIC], include_in_schema=False)


ROOT_PAGE = (
    '<!doctype html><title>Kallglot</title><p>The app: <a href="/app/login">/app/login</a>. '
    'The API reference: <a href="/docs">/docs</a> (OpenAPI: <a href="/openapi.json">'
    "/openapi.json</a>).</p>"
)


@router.get("/")
def root() -> HTMLResponse:
    """A browser at the bare address lands on sign-in; the body says where the API is."""
    return HTMLResponse(
        ROOT_PAGE,
        status_code=303,
        headers={
            "Location": "/app/login",
            "Link": '</docs>; rel="service-doc", </openapi.json>; rel="service-desc"',
        },
    )


@router.get("/app")
def home() -> RedirectResponse:
    return RedirectResponse("/app/console", status_code=303)


@router.get("/app/{slug}", response_class=HTMLResponse)
def page(request: Request, slug: str) -> HTMLResponse:
    found = PAGES.get(slug)
    if found is None:
        raise NotFoundError("No such page.", code="page_not_found")
    return templates.TemplateResponse(
        request, found.template, {"page": found, "navigation": NAVIGATION}
    )


# Swagger UI from this server's own assets (npm swagger-ui-dist, copied by `make assets`),
# started by a static script: the page works offline and needs no inline script.
API_DOCS = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Kallglot API reference</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="service-desc" href="/openapi.json">
  <link rel="stylesheet" href="/static/vendor/swagger-ui.css">
  <script src="/static/vendor/swagger-ui-bundle.js" defer></script>
  <script src="/static/js/api-docs.js" defer></script>
</head>
<body><div id="swagger-ui"></div></body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    """Swagger UI over ``/openapi.json``."""
    return HTMLResponse(API_DOCS)


def install_web(app: FastAPI) -> None:
    """Serve the pages under ``/app/`` and their assets under ``/static/``."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
