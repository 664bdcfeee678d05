#!/usr/bin/env bash
# PostgreSQL backup and restore for the site's database (custom format: compressed, and
# restorable table by table with pg_restore).
#
#   deploy/pg-backup.sh backup  [FILE]   # default: backups/chat-YYYYmmdd-HHMMSS.dump
#   deploy/pg-backup.sh restore FILE     # replaces the database's contents with FILE's
#
# With DATABASE_URL set, pg_dump/pg_restore on this host talk to that database. Without
# it, they run inside the compose `db` service (`docker compose exec db`).
# Restore into a stopped site: `docker compose stop web`, restore, `docker compose start web`.
set -euo pipefail

usage() { sed -n '2,11p' "$0" >&2; exit 2; }

run_pg() {  # run_pg pg_dump|pg_restore ARGS...: on this host, or inside the db service
  local tool=$1; shift
  if [[ -n "${DATABASE_URL:-}" ]]; then
    "$tool" --dbname="$DATABASE_URL" "$@"
  else
    docker compose exec -T db "$tool" --username="${POSTGRES_USER:-chat}" \
      --dbname="${POSTGRES_DB:-chat}" "$@"
  fi
}

backup() {
  local file=${1:-backups/chat-$(date -u +%Y%m%d-%H%M%S).dump}
  mkdir -p "$(dirname "$file")"
  # Written to a temporary name first: a failed dump never looks like a backup.
  run_pg pg_dump --format=custom --no-owner --no-privileges >"$file.partial"
  mv "$file.partial" "$file"
  echo "backup written: $file ($(wc -c <"$file") bytes)"
}

restore() {
  local file=${1:?restore needs the backup file}
  [[ -r "$file" ]] || { echo "cannot read $file" >&2; exit 1; }
  # One transaction: a restore that fails leaves the database as it was.
  run_pg pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
    <"$file"
  echo "restored: $file"
}

case "${1:-}" in
  backup) shift; backup "$@" ;;
  restore) shift; restore "$@" ;;
  *) usage ;;
esac
