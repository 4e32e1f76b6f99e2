"""Every default of coreclaw-async in one place, each with the reason it has that value."""

from __future__ import annotations

# Production host of the CoreClaw OpenAPI (spec section 1); override with CORECLAW_BASE_URL.
DEFAULT_BASE_URL = "https://openapi.coreclaw.com"

# Environment variables read when the constructor is not given a value.
ENV_API_KEY = "CORECLAW_API_KEY"
ENV_BASE_URL = "CORECLAW_BASE_URL"
ENV_CALLBACK_URL = "CORECLAW_CALLBACK_URL"

# One deadline for a whole call (all attempts and backoff sleeps); official clients use 30-60 s.
DEFAULT_TIMEOUT = 60.0

# Synchronous Worker runs keep the request open for up to 5 minutes (spec section 5).
SYNC_RUN_TIMEOUT = 330.0

# How long a call may wait for a free pooled connection (and the TCP/TLS connect itself);
# a request that never got a connection was never sent, so it is always safe to retry.
DEFAULT_POOL_TIMEOUT = 10.0

# Size of the keep-alive pool shared by every call of one client.
DEFAULT_MAX_CONNECTIONS = 100

# Idle pooled connections are dropped after this long: below the 60-120 s idle cut-offs of
# common load balancers and servers, so we rarely reuse a socket the server is about to close.
KEEPALIVE_TIMEOUT = 15.0

# How much of a response body an error keeps for diagnostics.
BODY_EXCERPT_LIMIT = 512

# Header names on the wire.
API_KEY_HEADER = "api-key"
REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-coreclaw-request-id")

# Logger every message of the library goes to.
LOGGER_NAME = "coreclaw_async"
