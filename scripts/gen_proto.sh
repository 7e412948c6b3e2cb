#!/usr/bin/env bash
# Regenerates the checked-in stubs under client/src/zkgate/wire from proto/.
# Uses grpcio-tools 1.81 (protobuf 6): stubs from a protobuf-7 toolchain refuse to import beside
# tritonclient and MLServer, which pin protobuf < 7.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
out=client/src/zkgate/wire
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bindir=$(dirname "$python")
# mypy-protobuf's plugins give typed .pyi for the messages and the gRPC stubs (mypy strict).
"$python" -m grpc_tools.protoc -Iproto \
  --plugin=protoc-gen-mypy="$bindir/protoc-gen-mypy" \
  --plugin=protoc-gen-mypy_grpc="$bindir/protoc-gen-mypy_grpc" \
  --python_out="$tmp" --mypy_out="$tmp" --grpc_python_out="$tmp" --mypy_grpc_out="$tmp" \
  zkgate/oip/v2/open_inference.proto zkgate/v1/zkgate.proto
# protoc mirrors the proto package as directories; flatten into zkgate.wire with fixed imports.
rm -rf "$out"
mkdir -p "$out"
for f in "$tmp"/zkgate/oip/v2/*.py "$tmp"/zkgate/oip/v2/*.pyi "$tmp"/zkgate/v1/*.py "$tmp"/zkgate/v1/*.pyi; do
  sed -e 's/^from zkgate\.oip\.v2 import /from zkgate.wire import /' \
      -e 's/^from zkgate\.v1 import /from zkgate.wire import /' "$f" > "$out/$(basename "$f")"
done
cat > "$out/__init__.py" <<'PY'
"""Generated protobuf and gRPC stubs; regenerate with `make proto`, never edit by hand."""
PY
touch "$out/py.typed"
echo "stubs written to $out"
