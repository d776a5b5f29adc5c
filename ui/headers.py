"""Response headers and closed routes for everything Gradio serves.

SecurityHeaders (passed through launch(app_kwargs=...)) sets on every response:
- `X-Content-Type-Options: nosniff`: a browser never guesses a served file's type from its
  bytes, so an HTML page uploaded as "photo.png" is never run as a page (Gradio sets it only
  on the files it proxies from other servers);
- `Referrer-Policy: strict-origin-when-cross-origin`: a link followed out of the app sends
  the app's origin, never a page address with its query;
- `Content-Security-Policy: frame-ancestors https://huggingface.co`: only the Hugging Face
  page that embeds a Space may show the app in a frame (no clickjacking from other sites);
and answers 404 on the routes a visitor of this app never needs (CLOSED).

SameOriginCors sits outside Gradio's own CORS middleware (installed at start-up by
`outermost`), which echoes any origin back with credentials allowed (any origin at all when
the app is served under a host name, as on a Space; any localhost origin locally). The app
has no cookies or logins and its page calls only its own origin, so no response allows
credentials, and another origin is allowed nothing.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from urllib.parse import urlsplit

HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"content-security-policy", b"frame-ancestors https://huggingface.co; object-src 'none'; base-uri 'self'"),
]
_NAMES = {name for name, _ in HEADERS}
# Closed here (what each would answer):
#   /gradio_api/token        the caller's own login cookie and user name (this app has no logins);
#   /gradio_api/deep_link    a session's input values, to anyone holding its session id (no
#                            deep-link button on this page);
#   /gradio_api/dev          the reload stream of Gradio's development mode (a connection held open);
#   /openapi.json, /docs, /redoc   FastAPI's own list of every route (the API page reads
#                            /gradio_api/info and /gradio_api/openapi.json, which stay open);
#   /gradio_api/runs, /gradio_api/run-history   the run history, also off by launch(run_history=False).
# The queue-skipping /gradio_api/run/<name> answers 404 for every queued event (queue(api_open=False));
# the page's two unqueued events, choosing a result and the banner's timer, use /gradio_api/run/predict.
CLOSED = (
    "/gradio_api/token",
    "/gradio_api/deep_link",
    "/gradio_api/dev",
    "/openapi.json",
    "/docs",
    "/redoc",
    "/gradio_api/runs",
    "/gradio_api/run-history",
)
_CORS = (b"access-control-allow-origin", b"access-control-allow-credentials")


class _HttpMiddleware:
    """ASGI middleware that changes HTTP requests only (websockets, lifespan pass through)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        else:
            await self.http(scope, receive, send)


class SecurityHeaders(_HttpMiddleware):
    async def http(self, scope, receive, send):
        path = scope["path"].rstrip("/")
        if any(path == closed or path.startswith(closed + "/") for closed in CLOSED):
            await send({"type": "http.response.start", "status": 404, "headers": [*HEADERS]})
            await send({"type": "http.response.body", "body": b"Not found"})
            return

        def ours(headers: list) -> list:
            return [*[(k, v) for k, v in headers if k.lower() not in _NAMES], *HEADERS]

        await self.app(scope, receive, with_headers(send, ours))


class SameOriginCors(_HttpMiddleware):
    """Drops the CORS grants from every response: credentials always, the origin unless the
    request came from the app's own origin (the page's own calls carry it on POST)."""

    async def http(self, scope, receive, send):
        request = dict((k.lower(), v) for k, v in scope.get("headers", []))
        origin, host = request.get(b"origin"), request.get(b"host", b"")
        own = origin is not None and urlsplit(origin.decode("latin-1")).netloc.encode("latin-1") == host

        def without_grants(headers: list) -> list:
            return [(k, v) for k, v in headers if k.lower() != _CORS[1] and (own or k.lower() != _CORS[0])]

        await self.app(scope, receive, with_headers(send, without_grants))


def with_headers(send, change):
    """`send` with each response's headers passed through `change` (list -> list) first."""

    async def changed(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": change(list(message.get("headers", [])))}
        await send(message)

    return changed


@asynccontextmanager
async def outermost(app):
    """A lifespan (launch(app_kwargs={"lifespan": ...})): Gradio adds its CORS middleware
    outside every middleware passed to it, so SameOriginCors wraps the built stack instead,
    at start-up, before the server takes its first request."""
    stack = app.middleware_stack or app.build_middleware_stack()
    app.middleware_stack = SameOriginCors(stack)
    yield
