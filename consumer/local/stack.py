"""The embedded local AWS stack: SQS, DynamoDB, CloudFormation, EventBridge and Cognito Identity
on one port.

    with LocalStack() as stack:
        os.environ.update(stack.env())   # every client now talks to the stack
        stack.faults.internal_error_rate = 0.2
        ...
        assert stack.ledger.applied_count() == expected

moto serves the services in server mode; our Cognito Identity operations are patched into it
(`patch.install`) and a gateway in front adds the faults, the ledger and the `/_local/` admin
surface. It always binds 127.0.0.1: nothing outside this machine can reach it.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Final, Self

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from consumer.local.dispatch import CachedDispatcher
from consumer.local.faults import Faults
from consumer.local.gateway import Gateway
from consumer.local.identities import STORE, IdentityStore
from consumer.local.ledger import Ledger
from consumer.local.moto_fixes.dynamodb_serial import install as install_dynamodb_serial
from consumer.local.moto_fixes.dynamodb_speed import install as install_dynamodb_speed
from consumer.local.moto_fixes.sqs_serial import install as install_sqs_serial
from consumer.local.moto_fixes.sqs_size import install as install_sqs_size
from consumer.local.moto_fixes.sqs_speed import install as install_sqs_speed
from consumer.local.moto_fixes.sqs_trace import install as install_sqs_trace
from consumer.local.patch import install
from consumer.local.request_counts import RequestCounts

HOST: Final = "127.0.0.1"


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without a log line per request (benchmarks send thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def _listen(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1; werkzeug would `sys.exit(1)` on a taken port instead."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


class LocalStack:
    """moto in server mode plus our Cognito Identity, faults and ledger, on 127.0.0.1.

    The server is built like `moto.server.ThreadedMotoServer` builds it, with two differences:
    the port is bound by us in the caller's thread, so a taken port raises OSError from `start()`
    (ThreadedMotoServer's thread exits and its `start()` waits forever), and the WSGI application
    is wrapped by the gateway.
    """

    def __init__(
        self, port: int = 0, faults: Faults | None = None, region: str = "us-east-1"
    ) -> None:
        install()
        install_dynamodb_speed()
        install_dynamodb_serial()
        install_sqs_speed()
        install_sqs_trace()
        install_sqs_size()
        install_sqs_serial()  # wraps what sqs_speed, sqs_trace and sqs_size installed
        self.region = region
        self.ledger = Ledger()
        self.identities: IdentityStore = STORE
        self._requested_port = port
        self._gateway = Gateway(
            CachedDispatcher(create_backend_app),
            faults if faults is not None else Faults(),
            self.ledger,
            self.identities,
            region,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def requests(self) -> RequestCounts:
        """Every request served, by action (SQS requests per command in the benchmarks)."""
        return self._gateway.requests

    @property
    def faults(self) -> Faults:
        """The live fault settings; change their fields at any time."""
        return self._gateway.injector.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._gateway.injector.faults = faults

    def start(self) -> Self:
        if self._server is not None:
            return self
        listener = _listen(self._requested_port)
        try:
            server = make_server(
                HOST,
                listener.getsockname()[1],
                self._gateway,
                threaded=True,
                request_handler=_QuietHandler,
                fd=listener.fileno(),  # werkzeug duplicates it
            )
        finally:
            listener.close()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() returns within 50 ms
            name=f"local-stack-{server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the server socket is bound to."""
        if self._server is None:
            raise RuntimeError("the local stack is not running; call start() first")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def endpoint_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    @property
    def admin_url(self) -> str:
        return f"{self.endpoint_url}/_local"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point any SDK client at this stack."""
        url = self.endpoint_url
        return {
            "AWS_ENDPOINT_URL_SQS": url,
            "AWS_ENDPOINT_URL_DYNAMODB": url,
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY": url,
            "AWS_ENDPOINT_URL_CLOUDFORMATION": url,
            "AWS_ENDPOINT_URL_EVENTBRIDGE": url,  # a rule delivers to the stack's own queues
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }

    def expire_tokens(self, identity_id: str) -> dict[str, str]:
        """New provider tokens for an identity; the old ones now give NotAuthorizedException."""
        return self.identities.expire_tokens(identity_id)

    def __repr__(self) -> str:
        where = self.endpoint_url if self._server is not None else "stopped"
        return f"LocalStack({where}, region={self.region!r}, faults={self.faults!r})"
