"""Users, roles, sessions, TOTP and API keys: the rules, independent of HTTP."""
