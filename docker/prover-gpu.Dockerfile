# The GPU prover image: `zkgate prover` with ezkl built from source with its gpu-accelerated
# feature (ezkl's Cargo.toml: gpu-accelerated = ["halo2_proofs/gpu-accelerated",
# "dep:icicle-runtime"]), plus ICICLE's CUDA backend. Build from the repository root:
#   docker build -f docker/prover-gpu.Dockerfile \
#     --build-arg ICICLE_BACKEND_URL=... --build-arg ICICLE_BACKEND_SHA256=... \
#     -t zkgate-prover-gpu:0.1.0 .
# Build arguments (docs/deployment.md, "Container images"):
#   CUDA_VERSION          CUDA of the build and runtime images (default 12.6.3)
#   EZKL_VERSION          the ezkl tag to build; must equal zkgate-prover's ezkl pin, because
#                         every artifact records the ezkl version that made it (default v23.0.5)
#   RUST_TOOLCHAIN        ezkl's rust-toolchain file at that tag (default nightly-2025-12-01)
#   ICICLE_BACKEND_URL    a release tarball of ICICLE's CUDA backend matching ezkl's
#                         icicle-runtime (3.7 at v23.0.4, see ezkl's Cargo.lock); required
#   ICICLE_BACKEND_SHA256 its SHA-256; required
# At run time ezkl proves on the GPU only while ICICLE_BACKEND_INSTALL_DIR names the backend
# directory (ezkl src/execute.rs, set_device); the Helm chart sets it for backend=gpu.
ARG CUDA_VERSION=12.6.3

FROM docker.io/nvidia/cuda:${CUDA_VERSION}-devel-ubuntu22.04 AS build
ARG EZKL_VERSION=v23.0.5
ARG RUST_TOOLCHAIN=nightly-2025-12-01
ARG ICICLE_BACKEND_URL
ARG ICICLE_BACKEND_SHA256
RUN test -n "$ICICLE_BACKEND_URL" && test -n "$ICICLE_BACKEND_SHA256" \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake curl git ca-certificates pkg-config libssl-dev clang \
      python3.11 python3.11-venv python3.11-dev \
 && rm -rf /var/lib/apt/lists/*
RUN curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain "$RUST_TOOLCHAIN"
ENV PATH=/root/.cargo/bin:$PATH
RUN python3.11 -m venv /opt/zkgate && /opt/zkgate/bin/pip install --no-cache-dir "maturin>=1.0,<2.0"
# The version goes into the wheel's metadata as ezkl's release workflow does it, so that
# importlib.metadata.version("ezkl") matches the CPU wheel and artifacts move between the two.
RUN git clone --depth 1 --branch "$EZKL_VERSION" https://github.com/zkonduit/ezkl /ezkl \
 && cd /ezkl \
 && sed -i "s/^version = \"0\.0\.0\"/version = \"${EZKL_VERSION#v}\"/" Cargo.toml pyproject.toml \
 && /opt/zkgate/bin/maturin build --release --features python-bindings,gpu-accelerated \
      --interpreter /opt/zkgate/bin/python --out /wheels
RUN mkdir -p /opt/icicle \
 && curl -sSfL "$ICICLE_BACKEND_URL" -o /tmp/icicle.tar.gz \
 && echo "$ICICLE_BACKEND_SHA256  /tmp/icicle.tar.gz" | sha256sum --check \
 && tar -xzf /tmp/icicle.tar.gz -C /opt/icicle --strip-components=1 \
 && test -d /opt/icicle/lib/backend
WORKDIR /src
COPY client client
COPY prover prover
# The GPU ezkl first: zkgate-prover's ezkl pin is then already satisfied.
RUN /opt/zkgate/bin/pip install --no-cache-dir /wheels/ezkl-*.whl \
 && /opt/zkgate/bin/pip install --no-cache-dir ./client ./prover \
 && /opt/zkgate/bin/python -c "import importlib.metadata as m; print('ezkl', m.version('ezkl'))"

FROM docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu22.04
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent zkgate
COPY --from=build /opt/zkgate /opt/zkgate
COPY --from=build /opt/icicle /opt/icicle
ENV PATH=/opt/zkgate/bin:$PATH \
    LD_LIBRARY_PATH=/opt/icicle/lib \
    ICICLE_BACKEND_INSTALL_DIR=/opt/icicle/lib/backend \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9091
CMD ["zkgate", "prover"]
