# The CPU prover image: `zkgate prover` with ezkl's PyPI wheel (zkgate-client, zkgate-prover).
# Build from the repository root:
#   docker build -f docker/prover.Dockerfile -t zkgate-prover:0.1.0 .
# Build arguments: PYTHON_IMAGE (the base image, pinned; pin a digest for reproducible builds).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY client client
COPY prover prover
RUN python -m venv /opt/zkgate \
 && /opt/zkgate/bin/pip install --no-cache-dir ./client ./prover

FROM ${PYTHON_IMAGE}
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent zkgate
COPY --from=build /opt/zkgate /opt/zkgate
ENV PATH=/opt/zkgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9091
CMD ["zkgate", "prover"]
