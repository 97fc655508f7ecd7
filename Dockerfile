# The tracing app for a team: sign-in through the organisation's identity provider (st.login),
# the dataset store and share links on a volume. See the README, "Host it for your team".
#
# Every step is a command the tests run too (tests/test_deploy.py): the install step is the
# README's, and the CMD, run outside a container with this file's ENV, serves /_stcore/health.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0 \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_HEADLESS=true \
    TRACING_STORE_DIR=/data/store \
    TRACING_DATA_ROOTS=/app/demo_data:/data/store:/data/files

WORKDIR /app
COPY requirements.txt .
RUN python -m pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home --uid 10001 tracing \
    && mkdir -p /data/store /data/files \
    && chown -R tracing:tracing /data
USER tracing

# The dataset store, link records and files the operator allows live here.
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/_stcore/health' % os.environ.get('STREAMLIT_SERVER_PORT', '8501'), timeout=4)"]
# Sign-in: mount the [auth] secrets at /app/.streamlit/secrets.toml and set
# TRACING_ALLOWED_EMAILS; without [auth] the app refuses to serve beyond loopback.
CMD ["python", "-m", "streamlit", "run", "app.py"]
