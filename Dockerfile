# dunning-connector: scheduler and HTTP in one process on a store in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY adapters ./adapters
COPY webhooks ./webhooks
RUN pip install '.[postgres]' && rm -rf /src

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin connector \
    && mkdir /data && chown connector:connector /data
USER connector
WORKDIR /data
VOLUME /data
ENV CONNECTOR_DATABASE_URL=sqlite:////data/connector.db \
    CONNECTOR_BIND=0.0.0.0:8000
EXPOSE 8000

CMD ["connector", "run"]
