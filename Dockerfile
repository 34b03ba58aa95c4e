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

# The web pages, /metrics and the probes. The default bind is loopback (inside the
# container); publish them with -e INCIDENT_BOT_HTTP_HOST=0.0.0.0 and a web token.
EXPOSE 8080
# /readyz answers 200 only while the database answers and every configured chat
# platform is connected. The slim image has no curl: Python asks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]

CMD ["/bin/sh", "-c", "incident-bot db upgrade && exec incident-bot run"]
