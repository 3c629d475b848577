# Shared by the scripts: install what is missing, idempotently. Source it; do not run it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION=0.2.130
# Cuts the web app's wasm at its lazy routes; the library cargo-leptos uses for `--split`.
WASM_SPLIT_VERSION=0.2.4

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs apt-get install for the packages that are not installed yet.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]} (apt)"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The Rust pieces of the web app build: the wasm target and the matching wasm-bindgen CLI,
# plus binaryen's wasm-opt and axe-core (for the browser tests) from npm.
ensure_frontend_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: its lockfile pins a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  if ! cargo install --list | grep -qx "wasm_split_cli_support v$WASM_SPLIT_VERSION:"; then
    log "installing wasm-split-cli $WASM_SPLIT_VERSION (a minute, once)"
    cargo install --locked wasm_split_cli_support --version "$WASM_SPLIT_VERSION" --features build-binary
  fi
  if [ ! -x "$ROOT/tools/node_modules/.bin/wasm-opt" ] || [ ! -x "$ROOT/tools/node_modules/.bin/esbuild" ] \
    || [ ! -f "$ROOT/tools/node_modules/axe-core/axe.min.js" ] \
    || [ ! -d "$ROOT/tools/node_modules/standardwebhooks" ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    log "installing binaryen (wasm-opt), esbuild, axe-core and standardwebhooks from npm"
    (cd "$ROOT/tools" && npm install --no-audit --no-fund --silent)
  fi
}

# PostgreSQL on 127.0.0.1:5432 (trust auth), started if it is down, installed if absent.
ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n1)"
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return 0
    sleep 1
  done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
  return 1
}

ensure_build_deps() {
  # pq-sys links the system libpq.
  apt_install libpq-dev pkg-config
}
