#!/usr/bin/env bash
# Installs everything okx-shield needs on a fresh Debian machine: the real proxy programs the local
# stack uses in place of Shield, and a virtualenv with the pinned Python packages. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
for program in microsocks:microsocks stunnel:stunnel4 tinyproxy:tinyproxy curl:curl; do
  command -v "${program%%:*}" >/dev/null 2>&1 || need_packages+=("${program##*:}")
done
if [ ${#need_packages[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "installing Debian packages: ${need_packages[*]}"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
fi
# tinyproxy's Debian package starts a system service on port 8888; the local stack runs its own copies.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet tinyproxy 2>/dev/null; then
  systemctl stop tinyproxy || true
fi

PYTHON="${PYTHON:-python3}"
stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] || [ src/requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  .venv/bin/python -m pip install -q --no-deps -e .
  touch "$stamp"
fi

# sam (build, validate --lint) and checkov, for the template checks in the test suite.
tools_stamp=.venv-tools/.installed
if [ ! -f "$tools_stamp" ] || [ requirements-tools.txt -nt "$tools_stamp" ]; then
  [ -x .venv-tools/bin/python ] || "$PYTHON" -m venv .venv-tools
  .venv-tools/bin/python -m pip install -q --upgrade pip
  .venv-tools/bin/python -m pip install -q -r requirements-tools.txt
  touch "$tools_stamp"
fi

want_clients=false
want_containers=false
for option in "$@"; do
  case "$option" in
    --clients) want_clients=true ;;
    --containers) want_containers=true ;;
    *) echo "unknown option $option (--clients, --containers)" >&2; exit 2 ;;
  esac
done

# The container tier (make test): Docker's daemon and CLI, its iptables, and debootstrap for the stand-in Lambda
# image (tests/containers). Skipped with OKX_SHIELD_SKIP_CONTAINERS=1 (a machine without root or Docker).
if $want_containers && [ "${OKX_SHIELD_SKIP_CONTAINERS:-}" != "1" ]; then
  container_packages=()
  for program in dockerd:docker.io iptables:iptables debootstrap:debootstrap; do
    command -v "${program%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${program%%:*}" ] || container_packages+=("${program##*:}")
  done
  if [ ${#container_packages[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "installing Debian packages for the container tier: ${container_packages[*]}"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${container_packages[@]}" >/dev/null
  fi
fi

# .venv-clients: ccxt and python-okx for the "clients" test tier (make test), apart from the product.
if $want_clients; then
  clients_stamp=.venv-clients/.installed
  if [ ! -f "$clients_stamp" ] || [ tests/clients/requirements.txt -nt "$clients_stamp" ]; then
    [ -x .venv-clients/bin/python ] || "$PYTHON" -m venv .venv-clients
    .venv-clients/bin/python -m pip install -q -r tests/clients/requirements.txt
    touch "$clients_stamp"
  fi
fi
