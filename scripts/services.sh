#!/usr/bin/env bash
# Start the local PostgreSQL and MariaDB servers the tests use when they are installed but
# stopped. Tests that need a server that is absent skip with the reason.
set -uo pipefail

if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql | head -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || echo "could not start PostgreSQL" >&2
fi
# CDC reads PostgreSQL's write-ahead log through logical replication, which needs
# wal_level = logical; the setting only takes effect after a restart.
if command -v pg_ctlcluster >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  level=$(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SHOW wal_level" 2>/dev/null)
  if [ "$level" != "logical" ]; then
    version=$(ls /etc/postgresql | head -n 1)
    psql -h 127.0.0.1 -U postgres -d postgres -qc "ALTER SYSTEM SET wal_level = logical" &&
      pg_ctlcluster --skip-systemctl-redirect "$version" main restart ||
      echo "could not set wal_level = logical: CDC tests will fail their preflight" >&2
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if command -v mariadbd >/dev/null 2>&1 && ! mysqladmin -h 127.0.0.1 -uroot status >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || echo "could not start MariaDB" >&2
  for _ in $(seq 1 30); do mysqladmin -h 127.0.0.1 -uroot status >/dev/null 2>&1 && break; sleep 1; done
fi
exit 0
