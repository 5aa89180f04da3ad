# One image for every watchflow deployable; docker-compose.yml picks the subcommand.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY watchflow ./watchflow
COPY ingest_api ./ingest_api
COPY streams ./streams
COPY warehouse ./warehouse
COPY jobs ./jobs
# The model compiled with mypyc (streams/native.py); without a compiler it would run as pure Python.
ENV WATCHFLOW_NATIVE_DIR=/opt/watchflow/native
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir '.[native]' \
    && python -m streams.native build \
    && apt-get purge -y gcc libc6-dev && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
ENV WATCHFLOW_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["watchflow"]
