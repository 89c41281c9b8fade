"""The HTTP resources: parse each request into a protocol model, call the domain, answer JSON.

``app`` wires the routes, ``base`` holds what every resource shares (the request
context, JSON in and out, the error answer), ``ratelimit`` the rate-limit middleware.
"""
