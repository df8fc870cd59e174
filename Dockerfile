# The cognito-unlink-consumer worker image.
#
#   docker build -t cognito-unlink-consumer:0.1.0 .
#   docker run --rm -e UNLINK_QUEUE_URL=... -e AWS_REGION=... cognito-unlink-consumer:0.1.0
#
# For reproducible builds pin the base image by digest (python:3.11-slim@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, in their own layer, so that a code change does not reinstall them.
# requirements.lock is compiled with the dev extra (moto, pytest, mypy, ...); the image takes
# only the project's runtime dependencies from pyproject.toml, each pinned to the lock's
# version through --constraint.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt \
    && pip install --constraint requirements.lock --requirement runtime-requirements.txt

# The project itself; its dependencies are already in place.
COPY README.md ./
COPY consumer ./consumer
RUN pip install --no-deps . \
    && python -m compileall -q /opt/venv

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

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
