# The vein2vein image: the worker (`python worker.py`, the default) and the service
# (`vein2vein serve`). docker-compose.yml runs both against a Temporal cluster on PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY workflows ./workflows
COPY activities ./activities
COPY definitions ./definitions
COPY records ./records
COPY vein2vein ./vein2vein
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --home-dir /data vein2vein \
    && mkdir /data /keys \
    && chown vein2vein /data /keys \
    && chmod 700 /data /keys

# The data directory holds the simulated world's store and, for the service, the signing key
# and users: mount a volume here. 0700: `vein2vein serve` refuses to bind beyond loopback
# while others can read it (a new named volume takes this mode from the image). The ledger lives in PostgreSQL (VEIN2VEIN_LEDGER_URL).
# /keys is for the key registry the worker and the service share (VEIN2VEIN_TRUSTED_KEYS).
ENV VEIN2VEIN_DATA_DIR=/data
VOLUME ["/data"]
USER vein2vein

CMD ["python", "worker.py"]
