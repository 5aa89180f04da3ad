# One image for every watchflow deployable; docker-compose.yml picks the subcommand.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY watchflow ./watchflow
COPY ingest_api ./ingest_api
COPY streams ./streams
COPY warehouse ./warehouse
COPY jobs ./jobs
RUN pip install --no-cache-dir .
ENV WATCHFLOW_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["watchflow"]
