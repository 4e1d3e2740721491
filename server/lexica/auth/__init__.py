"""Identity and access: users, passwords, tokens, two-factor authentication, API keys, roles, audit."""
