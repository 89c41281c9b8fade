"""Rate limits: requests per address and per user, login brute-force protection.

``policy`` holds the arithmetic (pure), ``stores`` the shared state (database or
Redis), ``limiter`` applies one to the other; ``coffer.server.api.ratelimit`` hooks it into the app
(so this package never imports the HTTP layer).
See docs/ratelimits.md for the settings and what a client sees.
"""
