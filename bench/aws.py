"""A lean AWS JSON-protocol client for the benchmark's own traffic (feeding, reading, ceilings).

The benchmark's side must cost the shared two cores as little as possible and must know exactly
which requests it made, so the stack's counts can be split into the worker's and its own. The
local stack checks no signatures; requests carry a credential scope only so moto routes them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

DATE: Final = "20250101"


@dataclass(frozen=True, slots=True)
class Service:
    signing_name: str
    target_prefix: str
    content_type: str


SQS: Final = Service("sqs", "AmazonSQS", "application/x-amz-json-1.0")
DYNAMODB: Final = Service("dynamodb", "DynamoDB_20120810", "application/x-amz-json-1.0")
COGNITO: Final = Service(
    "cognito-identity", "AWSCognitoIdentityService", "application/x-amz-json-1.1"
)


class AwsError(Exception):
    """An error answer: `code` is the AWS error code."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code = code
        self.status = status


def _error_code(payload: Any, headers: Any) -> str:
    raw = str(headers.get("x-amzn-ErrorType") or "")
    if not raw and isinstance(payload, dict):
        raw = str(payload.get("__type") or payload.get("code") or "")
    return raw.split(":", 1)[0].rsplit("#", 1)[-1] or "Unknown"


class RawAws:
    """Counts every request it sends, by `<target prefix>.<operation>`, as the stack does."""

    def __init__(
        self, endpoint_url: str, region: str = "us-east-1", connections: int = 100
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.counts: Counter[str] = Counter()
        self._session: aiohttp.ClientSession | None = None
        self._connections = connections

    async def __aenter__(self) -> RawAws:
        connector = aiohttp.TCPConnector(limit=self._connections)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=60)
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, service: Service, operation: str, payload: dict[str, Any]) -> Any:
        if self._session is None:
            raise RuntimeError("RawAws is used outside `async with`")
        target = f"{service.target_prefix}.{operation}"
        scope = f"testing/{DATE}/{self.region}/{service.signing_name}/aws4_request"
        headers = {
            "X-Amz-Target": target,
            "Content-Type": service.content_type,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, "
            "Signature=0",
        }
        self.counts[target] += 1
        async with self._session.post(
            self.endpoint_url + "/", data=json.dumps(payload), headers=headers
        ) as response:
            text = await response.text()
            answer = json.loads(text) if text else {}
            if response.status >= 400:
                message = str(answer.get("message") or answer.get("Message") or text[:200])
                raise AwsError(_error_code(answer, response.headers), message, response.status)
            return answer

    # -- SQS ---------------------------------------------------------------------------------

    async def create_queue(self, name: str, attributes: dict[str, str] | None = None) -> str:
        payload: dict[str, Any] = {"QueueName": name, "Attributes": attributes or {}}
        return str((await self.call(SQS, "CreateQueue", payload))["QueueUrl"])

    async def queue_arn(self, url: str) -> str:
        return (await self.attributes(url, ["QueueArn"]))["QueueArn"]

    async def attributes(self, url: str, names: list[str]) -> dict[str, str]:
        answer = await self.call(
            SQS, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": names}
        )
        return dict(answer.get("Attributes", {}))

    async def depth(self, url: str) -> int:
        """Visible, in flight and delayed messages together."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attrs = await self.attributes(url, names)
        return sum(int(attrs.get(name, 0)) for name in names)

    async def send_batch(
        self, url: str, bodies: list[str], groups: list[str] | None = None
    ) -> None:
        entries: list[dict[str, str]] = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)
        ]
        for entry, group in zip(entries, groups or [], strict=False):
            entry["MessageGroupId"] = group
        answer = await self.call(SQS, "SendMessageBatch", {"QueueUrl": url, "Entries": entries})
        if answer.get("Failed"):
            raise AwsError("BatchEntryFailed", str(answer["Failed"])[:200], 200)

    async def receive(
        self, url: str, count: int = 10, wait: int = 0, visibility: int | None = None
    ) -> list[dict[str, Any]]:
        payload: dict[str, Any] = {
            "QueueUrl": url,
            "MaxNumberOfMessages": count,
            "WaitTimeSeconds": wait,
            "MessageAttributeNames": ["All"],
        }
        if visibility is not None:
            payload["VisibilityTimeout"] = visibility
        return list((await self.call(SQS, "ReceiveMessage", payload)).get("Messages", []))

    async def delete_batch(self, url: str, receipt_handles: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(receipt_handles)]
        await self.call(SQS, "DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})

    # -- DynamoDB ------------------------------------------------------------------------------

    async def create_table(self, name: str) -> None:
        """The idempotency table: partition key `id` (S), on demand."""
        payload = {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        await self.call(DYNAMODB, "CreateTable", payload)

    async def scan(self, table: str) -> list[dict[str, Any]]:
        """Every item of ``table`` (DynamoDB's JSON shape), page by page."""
        items: list[dict[str, Any]] = []
        payload: dict[str, Any] = {"TableName": table}
        while True:
            page = await self.call(DYNAMODB, "Scan", payload)
            items += page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return items
            payload["ExclusiveStartKey"] = page["LastEvaluatedKey"]
