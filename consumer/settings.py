"""The worker's configuration: one frozen model read from the environment, overridden by flags."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from consumer.core.errors import ConfigurationError
from consumer.core.policy import SQS_MAX_DELAY_SECONDS

ENV_PREFIX = "UNLINK_"


class Settings(BaseSettings):
    """Everything the worker needs; nothing else in the package reads `os.environ`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", populate_by_name=True
    )

    queue_url: str = Field(min_length=1, description="The command queue.")
    dlq_url: str | None = Field(
        default=None, description="Dead-letter queue; else taken from the queue's RedrivePolicy."
    )
    idempotency_table: str | None = Field(
        default=None, description="DynamoDB table shared by a fleet; in-memory when unset."
    )
    # Longer than a command's life: a record a live command still needs (the evidence of a lost
    # answer, a late duplicate's match) must never expire under it.
    idempotency_ttl_seconds: int = Field(
        default=4 * 24 * 3600,
        ge=60,
        description="How long a command's record lives: duplicates absorbed, evidence kept; at "
        "least UNLINK_MAX_COMMAND_AGE_SECONDS.",
    )
    memory_store_max_records: int = Field(
        default=50_000,
        ge=1000,
        description="Records the in-memory store keeps at most (~270 bytes each); beyond it the "
        "least recently written are forgotten first, never a live lock.",
    )
    pseudonym_key: SecretStr | None = Field(
        default=None,
        description="HMAC key of the user pseudonyms in logs, a secret best set in the "
        "environment; unset: a random key per process.",
    )
    # Within the queue's retention (4 days in the template), so the worker, not SQS, ends it.
    max_command_age_seconds: int = Field(
        default=3 * 24 * 3600,
        ge=60,
        le=14 * 24 * 3600,
        description="A command retried or deferred for longer than this since first seen is "
        "dead-lettered with its last error.",
    )
    breaker_failures: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Consecutive failures of a dependency, with no success between, that pause "
        "the worker.",
    )
    breaker_probe_min_seconds: float = Field(
        default=2.0, gt=0, le=300, description="First probe after a pause; doubles per failure."
    )
    breaker_probe_max_seconds: float = Field(
        default=30.0, gt=0, le=300, description="Longest wait between probes while paused."
    )
    concurrency: int = Field(default=32, ge=1, le=1000, description="Commands in flight.")
    wait_time_seconds: int = Field(default=20, ge=0, le=20, description="SQS long-poll wait.")
    # Short and extended while its command runs: a dead worker's commands are taken over about
    # this long after its death (its claim locks last as long, and a 2 s margin).
    visibility_timeout_seconds: int = Field(
        default=30,
        ge=5,
        le=43200,
        description="How long a received message stays hidden; extended while its command "
        "runs, so a dead worker's commands are taken over about this long after its death.",
    )
    max_attempts: int = Field(default=8, ge=1, le=1000, description="Failure budget.")
    max_throttle_attempts: int = Field(
        default=50, ge=1, le=10000, description="Separate, larger budget for throttling."
    )
    # With 8 attempts, a 5 s base spreads retries over 5 to 10 minutes: longer than most outages.
    backoff_base_seconds: float = Field(
        default=5.0,
        gt=0,
        le=SQS_MAX_DELAY_SECONDS,
        description="First retry delay, doubled per failure.",
    )
    backoff_max_seconds: float = Field(
        default=SQS_MAX_DELAY_SECONDS, gt=0, description="Longest retry delay (SQS allows 900)."
    )
    grace_period_seconds: float = Field(
        default=25.0, ge=0, le=3600, description="On SIGTERM, how long running commands may finish."
    )
    # The rate control's whole surface: docs/rate-control.md says how it works.
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="One worker's ceiling in Cognito unlink calls/s, whatever its share or its "
        "own law says; unset: none.",
    )
    fleet_rate_limit: float | None = Field(
        default=None,
        gt=0,
        description="A known quota: unlink calls/s for the whole fleet, shared by the live "
        "workers through the idempotency table (without a table, this worker's own rate). "
        "Unset: the quota is learned from throttles.",
    )
    fleet_heartbeat_seconds: float = Field(
        default=1.0,
        ge=0.2,
        le=5.0,
        description="How often a worker writes its fleet entry and reads the plan (two requests).",
    )
    sqs_linger_seconds: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="How long a batched SQS send or visibility change waits for company "
        "(acks wait five times as long, up to two seconds while they arrive steadily: the "
        "message stays hidden meanwhile).",
    )
    # `legacy` would not retry TooManyRequestsException (HTTP 400); `standard` does, but only
    # once by default: the rate limiter and delayed re-enqueue handle throttling without holding
    # a slot.
    cognito_max_attempts: int = Field(
        default=2, ge=1, le=10, description="botocore attempts per Cognito call (standard mode)."
    )
    call_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Timeout of one Cognito HTTP call."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of /metrics, /healthz, /readyz; off when unset.",
    )
    log_format: Literal["json", "console", "auto"] = Field(
        default="auto", description="Log lines as JSON, for a person, or console on a terminal."
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        default="info", description="Lowest level logged; debug includes botocore's requests."
    )
    otel_tracing: bool = Field(
        default=False,
        description="A span per command through OpenTelemetry's global tracer provider "
        "(needs the [otel] extra).",
    )
    region: str | None = Field(
        default=None,
        description="AWS region; else the SDK's (profile, instance metadata).",
        # botocore reads AWS_DEFAULT_REGION only; containers usually set AWS_REGION.
        validation_alias=AliasChoices(
            "UNLINK_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "region"
        ),
    )

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        # LOG_LEVEL=INFO is how most deployments spell it.
        return value.lower() if isinstance(value, str) else value

    @field_validator("max_command_age_seconds")
    @classmethod
    def _within_the_records_life(cls, value: int, info: ValidationInfo) -> int:
        ttl = info.data.get("idempotency_ttl_seconds")
        if ttl is not None and value > ttl:
            raise ValueError(
                f"longer than UNLINK_IDEMPOTENCY_TTL_SECONDS ({ttl}): a command's record would "
                "expire while the command lives"
            )
        return value

    @field_validator("backoff_max_seconds")
    @classmethod
    def _cap_backoff(cls, value: float) -> float:
        # SQS refuses DelaySeconds above 900; a longer cap would only be clipped later.
        return min(value, SQS_MAX_DELAY_SECONDS)

    @property
    def is_fifo(self) -> bool:
        return self.queue_url.endswith(".fifo")


def known_variables() -> list[str]:
    """The `UNLINK_*` variables the model reads, in its order."""
    names: list[str] = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names += [c for c in alias.choices if isinstance(c, str) and c.startswith(ENV_PREFIX)]
        else:
            names.append(f"{ENV_PREFIX}{name.upper()}")
    return names


def unknown_variables(environ: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """Each `UNLINK_*` variable the model does not read, with the closest name it does (or None).

    A misspelled setting is otherwise silently ignored (the model takes its default). Names are
    compared without the prefix, which every candidate shares, and in any case, as they are read;
    a name that stops short of known ones (`UNLINK_IDEMPOTENCY_TTL`, its unit left out) is
    matched among those.
    """
    known = {name[len(ENV_PREFIX) :]: name for name in known_variables()}
    unknown: dict[str, str | None] = {}
    for variable in sorted(os.environ if environ is None else environ):
        upper = variable.upper()
        suffix = upper[len(ENV_PREFIX) :]
        if not upper.startswith(ENV_PREFIX) or suffix in known:
            continue
        longer = [name for name in known if name.startswith(f"{suffix}_")]
        close = difflib.get_close_matches(
            suffix, longer or known, n=1, cutoff=0.0 if longer else 0.6
        )
        unknown[variable] = known[close[0]] if close else None
    return unknown


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
