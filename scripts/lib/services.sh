# Shared helpers for scripts/run and scripts/test: install (Debian's
# packages, as root or through sudo) and start what Roster needs when it is
# missing. Sourced, not run.

log() { printf '[roster] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; return 1; fi
}

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install $* yourself"; return 1
  fi
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Ensures a redis-server binary and a server answering on 127.0.0.1:$1.
ensure_redis() {
  local port=${1:-6379}
  if ! command -v redis-server >/dev/null 2>&1; then
    log "installing redis-server"; apt_install redis-server redis-tools
  fi
  if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then return 0; fi
  log "starting redis-server on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir /tmp --logfile "/tmp/roster-redis-$port.log"
  for _ in $(seq 1 50); do
    redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1
  done
  log "redis did not start"; return 1
}

# Ensures PostgreSQL answers on 127.0.0.1:5432 and that user postgres can
# log in over TCP with password postgres (trust setups ignore it).
ensure_postgres() {
  local url="postgres://postgres:postgres@127.0.0.1:5432/postgres"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing postgresql"; apt_install postgresql postgresql-client
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then log "no postgresql cluster found"; return 1; fi
    if [ ! -d "/etc/postgresql/$version/main" ]; then as_root pg_createcluster "$version" main >/dev/null; fi
    log "starting postgresql $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 100); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  if ! psql "$url" -Atqc 'select 1' >/dev/null 2>&1; then
    log "setting a password for the postgres role"
    as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
  psql "$url" -Atqc 'select 1' >/dev/null || { log "cannot log in to postgresql as $url"; return 1; }
}

# Ensures a Rust toolchain with cargo.
ensure_cargo() {
  if command -v cargo >/dev/null 2>&1; then return 0; fi
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH" && return 0
  log "cargo not found: install Rust (https://rustup.rs) or Debian's cargo"; apt_install cargo
}

# Ensures redis-server and redis-benchmark (Debian: redis-server,
# redis-tools) without starting anything.
ensure_redis_tools() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-benchmark >/dev/null 2>&1; then
    log "installing redis-server and redis-tools"; apt_install redis-server redis-tools
  fi
}

# Ensures a Python with aiosmtpd (from PyPI) for the end-to-end tests'
# SMTP sink (tests/smtp/smtp_sink.py), in a virtual environment of its own
# under ~/.cache/roster; prints that Python's path. Idempotent.
ensure_aiosmtpd() {
  local venv="${ROSTER_SMTP_VENV:-$HOME/.cache/roster/smtp-venv}"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import aiosmtpd" 2>/dev/null; then
    echo "$venv/bin/python"; return 0
  fi
  if ! command -v python3 >/dev/null 2>&1; then log "installing python3"; apt_install python3 python3-venv; fi
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    log "installing python3-venv"; apt_install python3-venv; rm -rf "$venv"; python3 -m venv "$venv"
  fi
  log "installing aiosmtpd into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==1.4.6" >&2
  echo "$venv/bin/python"
}
