"""Response headers the app adds to everything Gradio serves.

`X-Content-Type-Options: nosniff` stops a browser from guessing a served file's type from
its bytes: an HTML page uploaded as "photo.png" and served back under an image type is
then never run as a page. Gradio sets it only on the files it proxies from other
servers; this ASGI middleware (passed through launch(app_kwargs=...)) sets it on every
response, uploads and thumbnails included.
"""

from __future__ import annotations

NOSNIFF = (b"x-content-type-options", b"nosniff")


class NoSniff:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != NOSNIFF[0]]
                message = {**message, "headers": [*headers, NOSNIFF]}
            await send(message)

        await self.app(scope, receive, send_with_header)
