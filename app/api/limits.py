"""Request size limit: a body past `max_body_bytes` gets 413 problem+json before a route reads it.

Pure ASGI, so it counts the bytes as they arrive: a client that sends no
Content-Length (chunked) is cut off at the limit too.  A declared length (without
Transfer-Encoding) is checked before the route runs, and the server delivers no more than it.
"""

from __future__ import annotations

import json

from coopchain.app.api.errors import MEDIA_TYPE, OURS


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                return await self._refuse(scope, send)
            if b"transfer-encoding" not in headers:
                # The server delivers exactly the declared length (HTTP/1.1 framing): nothing to count, and no
                # wrapper around every receive and send of the request (every submitted transaction passes here).
                return await self.app(scope, receive, send)
        seen = 0
        started = False

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope, send):
        body = json.dumps({"type": OURS + "too-large", "title": "Request too large", "status": 413,
                           "detail": f"the request body is larger than {self.max_bytes:,} bytes", "instance": scope.get("path", ""),
                           "errors": [{"path": "body", "detail": f"at most {self.max_bytes:,} bytes"}]}).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
