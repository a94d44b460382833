#!/usr/bin/env bash
# Installs what okx-shield needs on a fresh Debian machine, and nothing more than asked for. Safe to re-run: each
# part is skipped while its stamp is newer than its requirements.
#
#   scripts/bootstrap.sh            the demo and the CLI (make demo, make setup): the real proxy programs the local
#                                   stack uses in place of Shield, and .venv with the pinned Python packages
#   scripts/bootstrap.sh --tools    also .venv-tools: sam and checkov, for the template checks and a deploy
#                                   (make test, make tools, make deploy)
#   scripts/bootstrap.sh --clients  also .venv-clients: ccxt and python-okx for the clients test tier (make test)
#   scripts/bootstrap.sh --containers  also Docker, iptables and debootstrap for the container tier (make test)
#
# Each step says what it does and about how long it takes the first time, and pip prints one line per package it
# fetches, so a first run is never minutes of silence.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tools=false
want_clients=false
want_containers=false
for arg in "$@"; do
  case "$arg" in
    --tools) want_tools=true ;;
    --clients) want_clients=true ;;
    --containers) want_containers=true ;;
    *) echo "bootstrap.sh: unknown option $arg (use --tools, --clients, --containers)" >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*"; }
done_in() { printf '    done in %d s\n' "$((SECONDS - $1))"; }
# pip, showing each package it collects (pip -q would be silent for minutes); the exit status is pip's.
pip_install() {
  "$@" --progress-bar off 2>&1 | awk '/^(Collecting|Successfully installed|ERROR)/ { print "    " substr($0, 1, 110); fflush() }'
}

need_packages=()
for program in microsocks:microsocks stunnel:stunnel4 tinyproxy:tinyproxy curl:curl; do
  command -v "${program%%:*}" >/dev/null 2>&1 || need_packages+=("${program##*:}")
done
if [ ${#need_packages[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  started=$SECONDS
  step "Debian packages for the local stand-ins for Shield: ${need_packages[*]} (apt-get, about 30 s)"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_packages[@]}" >/dev/null
  done_in "$started"
fi
# tinyproxy's Debian package starts a system service on port 8888; the local stack runs its own copies.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet tinyproxy 2>/dev/null; then
  systemctl stop tinyproxy || true
fi

PYTHON="${PYTHON:-python3}"
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] || [ src/requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  started=$SECONDS
  step ".venv: okx-shield and its pinned Python packages (first run: about 1-2 minutes)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  pip_install .venv/bin/python -m pip install --upgrade pip
  pip_install .venv/bin/python -m pip install -r requirements-dev.txt
  pip_install .venv/bin/python -m pip install --no-deps -e .
  touch "$stamp"
  done_in "$started"
fi

# sam (build, validate --lint, deploy) and checkov, for the template checks and a deployment; not for the demo.
if $want_tools; then
  tools_stamp=.venv-tools/.installed
  if [ ! -f "$tools_stamp" ] || [ requirements-tools.txt -nt "$tools_stamp" ]; then
    started=$SECONDS
    step ".venv-tools: the AWS SAM CLI and checkov (first run: about 2-3 minutes)"
    [ -x .venv-tools/bin/python ] || "$PYTHON" -m venv .venv-tools
    pip_install .venv-tools/bin/python -m pip install --upgrade pip
    pip_install .venv-tools/bin/python -m pip install -r requirements-tools.txt
    touch "$tools_stamp"
    done_in "$started"
  fi
fi

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
    started=$SECONDS
    step "Debian packages for the container tier: ${container_packages[*]} (apt-get, about 1 minute)"
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${container_packages[@]}" >/dev/null
    done_in "$started"
  fi
fi

# .venv-clients: ccxt and python-okx for the "clients" test tier (make test), apart from the product.
if $want_clients; then
  clients_stamp=.venv-clients/.installed
  if [ ! -f "$clients_stamp" ] || [ tests/clients/requirements.txt -nt "$clients_stamp" ]; then
    started=$SECONDS
    step ".venv-clients: ccxt and python-okx for the clients test tier (first run: about 1 minute)"
    [ -x .venv-clients/bin/python ] || "$PYTHON" -m venv .venv-clients
    pip_install .venv-clients/bin/python -m pip install -r tests/clients/requirements.txt
    touch "$clients_stamp"
    done_in "$started"
  fi
fi
