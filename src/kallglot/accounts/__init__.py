"""Identity: organizations, users, memberships, roles, API keys, sessions."""
