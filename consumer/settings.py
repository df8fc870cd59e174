"""The worker's configuration: one frozen model read from the environment, overridden by flags."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumer.core.errors import ConfigurationError

SQS_MAX_DELAY_SECONDS = 900


class Settings(BaseSettings):
    """Everything the worker needs; nothing else in the package reads `os.environ`."""

    model_config = SettingsConfigDict(
        env_prefix="UNLINK_", frozen=True, extra="ignore", populate_by_name=True
    )

    queue_url: str = Field(min_length=1, description="The command queue.")
    dlq_url: str | None = Field(
        default=None, description="Dead-letter queue; else taken from the queue's RedrivePolicy."
    )
    idempotency_table: str | None = Field(
        default=None, description="DynamoDB table shared by a fleet; in-memory when unset."
    )
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    concurrency: int = Field(default=32, ge=1, le=1000, description="Commands in flight.")
    wait_time_seconds: int = Field(default=20, ge=0, le=20, description="SQS long-poll wait.")
    visibility_timeout_seconds: int = Field(default=60, ge=5, le=43200)
    max_attempts: int = Field(default=8, ge=1, le=1000, description="Failure budget.")
    max_throttle_attempts: int = Field(
        default=50, ge=1, le=10000, description="Separate, larger budget for throttling."
    )
    # With 8 attempts, a 5 s base spreads retries over 5 to 10 minutes: longer than most outages.
    backoff_base_seconds: float = Field(default=5.0, gt=0, le=SQS_MAX_DELAY_SECONDS)
    backoff_max_seconds: float = Field(default=SQS_MAX_DELAY_SECONDS, gt=0)
    grace_period_seconds: float = Field(default=25.0, ge=0, le=3600)
    rate_limit: float | None = Field(default=None, gt=0, description="Cognito calls/s ceiling.")
    adaptive_rate: bool = Field(default=True, description="Back off on throttling, probe up.")
    call_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    region: str | None = Field(
        default=None,
        # botocore reads AWS_DEFAULT_REGION only; containers usually set AWS_REGION.
        validation_alias=AliasChoices(
            "UNLINK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "region"
        ),
    )

    @field_validator("backoff_max_seconds")
    @classmethod
    def _cap_backoff(cls, value: float) -> float:
        # SQS refuses DelaySeconds above 900; a longer cap would only be clipped later.
        return min(value, SQS_MAX_DELAY_SECONDS)

    @property
    def is_fifo(self) -> bool:
        return self.queue_url.endswith(".fifo")


def settings_error(exc: ValidationError) -> str:
    """The first problem, named the way the user set it (environment variable name)."""
    first = exc.errors(include_url=False, include_input=False)[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    return f"UNLINK_{field.upper()}: {first['msg']}"


def load_settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigurationError(settings_error(exc)) from None
