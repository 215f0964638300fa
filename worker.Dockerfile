# syntax=docker/dockerfile:1
# One image for every payrecon process (api, worker, beat, flower, migrate); the command picks.
# Stage 1 builds wheels with the same pinned versions as `make`; stage 2 runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip
COPY pyproject.toml constraints.txt README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
COPY schedules ./schedules
COPY rules ./rules
# The README's install step, into a virtualenv that the runtime stage copies.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PAYRECON_FEED_STORE_DIR=/var/lib/payrecon/feeds \
    PAYRECON_INBOX_DIR=/var/lib/payrecon/inbox
RUN groupadd --system payrecon && useradd --system --gid payrecon --home /app payrecon \
 && mkdir -p /var/lib/payrecon/feeds /var/lib/payrecon/inbox /app \
 && chown -R payrecon:payrecon /var/lib/payrecon /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER payrecon
# A worker is healthy when it answers a ping through the broker.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD celery -A payrecon.worker.app inspect ping -d "celery@$HOSTNAME" --timeout 5 || exit 1
CMD ["payrecon", "worker"]
