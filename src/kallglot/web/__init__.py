"""The browser app: server-rendered pages (Jinja2), htmx navigation, small ES modules.

Pages are shells: every piece of organization data is read and changed through the
public ``/v1`` API from the browser (session cookie + CSRF token), so the API's
permissions, isolation and error envelope apply unchanged.
"""

from kallglot.web.pages import install_web

__all__ = ["install_web"]
