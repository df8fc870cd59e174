"""The few WSGI helpers the gateway and the admin surface share."""

from __future__ import annotations

import io
import json
from http import HTTPStatus
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from consumer.local.errors import CognitoError


def read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, put back so the next application can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def respond(
    start_response: StartResponse, status: int, body: str, headers: dict[str, str]
) -> list[bytes]:
    data = body.encode()
    start_response(
        f"{status} {HTTPStatus(status).phrase}",
        [*headers.items(), ("Content-Length", str(len(data)))],
    )
    return [data]


def respond_json(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    return respond(
        start_response, status, json.dumps(payload), {"Content-Type": "application/json"}
    )


def respond_error(start_response: StartResponse, error: CognitoError) -> list[bytes]:
    """A Cognito Identity error exactly as the operations render it."""
    return respond(start_response, error.status, error.body(), error.headers())
