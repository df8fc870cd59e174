"""moto's request dispatcher, remembering where the stack's own services are routed.

moto picks the backend application for every request under one global lock, and the choice lists
moto's package directory and tries hundreds of URL patterns: milliseconds per request, with every
server thread queued behind it. For a signed JSON-protocol request of the services the stack
serves (SQS, DynamoDB, Cognito Identity) the choice depends only on the credential scope's
service and the `X-Amz-Target` prefix, so it is made once per such pair and then looked up.
Everything else still goes through moto's own routing.
"""

from __future__ import annotations

from typing import Any, Final

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

CACHED_SERVICES: Final = frozenset({"sqs", "dynamodb", "cognito-identity"})
MOTO_PATHS: Final = ("/moto-api", "/latest/", "/favicon.ico")


def route_key(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(service, target prefix) when moto's routing depends on nothing else, else None."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    auth = str(environ.get("HTTP_AUTHORIZATION", ""))
    if not target or not auth or str(environ.get("PATH_INFO", "")).startswith(MOTO_PATHS):
        return None
    try:
        scope = auth.split(",", maxsplit=1)[0].split()[1]
        _, _, _, service, _ = scope.split("/")
    except (IndexError, ValueError):
        return None
    service = service.lower()
    if service not in CACHED_SERVICES:
        return None
    return service, target.split(".", 1)[0]


class CachedDispatcher(DomainDispatcherApplication):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._routes: dict[tuple[str, str], Any] = {}

    def get_application(self, environ: dict[str, Any]) -> Any:
        key = route_key(environ)
        if key is None:
            return super().get_application(environ)
        app = self._routes.get(key)
        if app is None:
            app = self._routes[key] = super().get_application(environ)
        return app
