# The cognito-unlink-consumer worker image.
#
#   docker build -t cognito-unlink-consumer:0.1.0 \
#       --build-arg REVISION="$(git rev-parse HEAD)" --build-arg CREATED="$(date -u +%FT%TZ)" .
#   docker run --rm -e UNLINK_QUEUE_URL=... -e AWS_REGION=... cognito-unlink-consumer:0.1.0
#
# Reproducible builds pin the base image by digest, so a rebuilt tag cannot change the image:
#
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<that digest> ...
#
# The default stays the tag so that a plain build picks up the base image's security fixes;
# a release pipeline passes the digest it tested (and renews it, e.g. with Renovate or Dependabot).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build

# uv installs exactly uv.lock into /opt/venv, the bytecode compiled, no cache left in a layer.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never

RUN pip install uv==0.13.9 \
    && python -m venv /opt/venv

WORKDIR /src

# Dependencies first, in their own layer, so that a code change does not reinstall them: the
# runtime ones only (no dev group, no extras), at the versions of the lock.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

# The project itself, a regular install (not editable); its dependencies are already in place.
COPY README.md LICENSE ./
COPY consumer ./consumer
RUN uv sync --frozen --no-dev --no-editable \
    && /opt/venv/bin/python -m compileall -q /opt/venv

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

# Set by the release pipeline (see the top); VERSION must match consumer.__version__.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="cognito-unlink-consumer" \
      org.opencontainers.image.description="An SQS worker that runs Cognito Identity unlink commands exactly once." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

RUN groupadd --system --gid 10001 unlink \
    && useradd --system --uid 10001 --gid unlink --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin unlink

COPY --from=build /opt/venv /opt/venv

# Bytecode was compiled at build time: the root filesystem can be read-only at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UNLINK_METRICS_PORT=9102 \
    UNLINK_LOG_FORMAT=json

# Numeric, so that Kubernetes' runAsNonRoot can verify it without resolving names.
USER 10001:10001

# Prometheus metrics, /healthz (liveness) and /readyz (readiness).
EXPOSE 9102

# No HEALTHCHECK: neither orchestrator this image targets reads it. ECS runs only the
# healthCheck of the task definition (infra/cloudformation.yaml has one against /healthz)
# and ignores the image's; Kubernetes uses the Deployment's liveness and readiness probes.
#
# No init process (tini): the worker is PID 1 and installs its own SIGTERM/SIGINT handlers
# (first signal drains for UNLINK_GRACE_PERIOD_SECONDS, a second one exits at once), and it
# starts no child processes, so there are no zombies to reap and no signals to forward. The
# exec form below is what makes it PID 1: a shell form would put /bin/sh there, and sh does
# not pass SIGTERM on, so the worker would be SIGKILLed at the end of the stop timeout.
STOPSIGNAL SIGTERM
ENTRYPOINT ["unlink-consumer"]
CMD ["run"]
