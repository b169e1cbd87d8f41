# The Turnout image: the operator and the router data plane share it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY operator ./operator
COPY router ./router
COPY plugin_host ./plugin_host
RUN pip install --no-cache-dir . && useradd --uid 10001 --no-create-home turnout
USER 10001
ENV PLUGINS_DIR=/app/plugins
