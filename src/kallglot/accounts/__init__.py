"""Identity: users, organizations, memberships, roles, API keys, MFA, sessions.

What other domains use:

- ``kallglot.accounts.permissions``: ``Permission`` (every permission of the product),
  ``Role``, ``ROLE_PERMISSIONS``.
- ``kallglot.accounts.dependencies``: ``require(Permission.X)`` (authenticate + check),
  ``PUBLIC`` (an explicitly public route), ``Principal``, ``request_context``.
- ``kallglot.accounts.isolation.get_for_organization``: load an object of the caller's
  organization, 404 otherwise.
- ``kallglot.audit.record``: append to the audit log.
"""
