# incident-bot: the bot in a container. Code in /app, installed into /opt/venv;
# state (the SQLite database, exported drafts) in the /data volume, the working directory.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot/ bot/
COPY adapters/ adapters/
COPY storage/ storage/
COPY migrations/ migrations/

# The README's "Install without make", with the venv at /opt/venv and no pip cache.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir .

RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid incident-bot --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin incident-bot \
    && mkdir -p /data \
    && chown incident-bot:incident-bot /data

# INCIDENT_BOT_DATABASE_URL is deliberately unset: the default sqlite:///incident-bot.db
# lands in /data. Set it (and the Slack or Matrix credentials) with `docker run -e`.
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

CMD ["/bin/sh", "-c", "incident-bot db upgrade && exec incident-bot run"]
