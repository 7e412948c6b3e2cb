# The gateway image: `zkgate serve` (zkgate-client, zkgate-prover, zkgate-gateway from PyPI
# wheels and this repository). Build from the repository root:
#   docker build -f docker/gateway.Dockerfile -t zkgate-gateway:0.1.0 .
# Build arguments: PYTHON_IMAGE (the base image, pinned; pin a digest for reproducible builds).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY client client
COPY prover prover
COPY gateway gateway
RUN python -m venv /opt/zkgate \
 && /opt/zkgate/bin/pip install --no-cache-dir ./client ./prover ./gateway

FROM ${PYTHON_IMAGE}
# The chart's podSecurityContext runs as 10001 too; the root file system is read-only there.
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent zkgate
COPY --from=build /opt/zkgate /opt/zkgate
ENV PATH=/opt/zkgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8001 9090
CMD ["zkgate", "serve"]
