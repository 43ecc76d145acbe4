#!/usr/bin/env bash
# How the fixtures next to this script were made: a PostgreSQL and an SQLite database created and used by the
# `sluice` of commit 972397b (before the store targets were split and the migrations grouped per library), then
# dumped as SQL. SchemaTests loads them and migrates them with today's build.
#
# Usage: make-old-databases.sh OLD_SLUICE_BINARY POSTGRES_SERVER_URL PG_BIN_DIR
set -euo pipefail
sluice="$1"; server="$2"; pgbin="$3"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
name="sluice_fixture_$$"
"$pgbin/psql" -q "$server" -c "CREATE DATABASE $name"
pg_url="${server%/*}/$name"

populate() {
    local url="$1"
    "$sluice" migrate --database-url "$url" >/dev/null
    echo "fixture password" | "$sluice" users create --database-url "$url" --email admin@example.com --role admin >/dev/null
    "$sluice" projects create docs --database-url "$url" >/dev/null
    printf '{"text": "a cat sat on the mat", "id": "a"}\n{"text": "stocks fell sharply", "id": "b"}\n' > "$work/records.jsonl"
    "$sluice" ingest docs "$work/records.jsonl" --embed --no-wait --database-url "$url" >/dev/null
    "$sluice" enqueue --type INGEST_DATA --delay 86400 --database-url "$url" >/dev/null
    # Work the ingest and its VECTORIZE, then stop (the delayed job stays PENDING).
    "$sluice" work --database-url "$url" --types INGEST_DATA,VECTORIZE >/dev/null 2>&1 &
    local worker=$!
    sleep 8
    kill -INT "$worker"; wait "$worker" || true
}

populate "$pg_url"
"$pgbin/pg_dump" --no-owner --no-privileges --inserts "$pg_url" | grep -v '^\\' > "$here/972397b.postgres.sql"
"$pgbin/psql" -q "$server" -c "DROP DATABASE $name WITH (FORCE)"

populate "sqlite:$work/old.sqlite"
python3 - "$work/old.sqlite" "$here/972397b.sqlite.sql" <<'PY'
import sqlite3, sys
with open(sys.argv[2], "w") as out:
    for line in sqlite3.connect(sys.argv[1]).iterdump():
        out.write(line + "\n")
PY
rm -rf "$work"
