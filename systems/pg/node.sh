#!/bin/bash
# A Postgres node of the streaming-replication system: runs as root, drops to the postgres user,
# and supervises the server so that its promotion agent (a sidecar in the same network
# namespace, sharing /control) can turn a returning old primary into a standby.
#
# Environment: NODE_NAME, PG_ROLE (primary|standby, first boot only), PRIMARY_HOST (first boot
# of a standby), SYNC_COMMIT (off|on|remote_apply), SYNC_NAMES (synchronous_standby_names).
#
# /control/role     written by the agent: `primary`, or `standby HOST`
# /control/restart  written by the agent: stop the server and come back in the role above
# /control/fence    written by the agent when its lease runs out, after it removed the role:
#                   stop the server at once (immediate: no checkpoint, no disk write) and wait
#                   for a role. Only the agent writes or removes the role once the node runs.
# While it waits for the server it is to follow, the supervisor keeps reading the role: when the
# agent names another one (that server died first) or withdraws it, it starts over from the
# agent's new word instead of waiting for a server that will not come back.
# /control/initialised  this node's data directory has been made once (initdb or a base backup):
#                   a later boot without PG_VERSION is a copy cut short, never a first boot
# /control/needs-clone  set while the data directory is being replaced or rewound: a copy or a
#                   pg_rewind cut off (a power loss, a kill) leaves it unfit to start, so until a
#                   base backup completes the node takes no role but a standby's (by a new copy)
# /control/lease-until  written by the agent after each renewal of its lease: a wall-clock ms,
#                   half its lease margin after the deadline at which it fences this node itself.
#                   A dead-man switch, as Patroni's watchdog is: while the server runs as a
#                   primary and that time has passed, the agent is gone or stuck (stopped, hung,
#                   killed and not back), and the supervisor stops the server itself, as the
#                   agent would have, before the registry lets a standby take the lease.
# /archive          the WAL archive every node shares (archive_command / restore_command)
#
# Every step is a JSON event line on stdout, for the run's timeline.
set -u

# archive_command: `pg-node.sh archive %p %f`. Atomic: a copy under a temporary name, then a hard
# link to the final one (which fails if it exists), so restore_command never reads a half-copied
# segment. A segment archived already with the same content (a retry after a crash) succeeds.
if [ "${1:-}" = archive ]; then
  src=$2 dst=/archive/$3 tmp=/archive/.$3.$$.tmp
  if [ -f "$dst" ]; then cmp -s "$src" "$dst"; exit $?; fi
  cp "$src" "$tmp" && sync "$tmp" && ln "$tmp" "$dst" 2>/dev/null
  rc=$?
  rm -f "$tmp"
  [ "$rc" = 0 ] && exit 0
  [ -f "$dst" ] && cmp -s "$src" "$dst"
  exit $?
fi

PGBIN="$(dirname "$(command -v postgres 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/postgres | sort -V | tail -n1)")"
DATA=/var/lib/postgresql/chaos-data
CTL=/control
PORT=5432

event() { # event TYPE [JSON-FIELDS]
  printf '{"t":%s,"type":"%s","node":"%s"%s}\n' "$(date +%s%3N)" "$1" "$NODE_NAME" "${2:+,$2}"
}
as_pg() { runuser -u postgres -- "$@"; }

mkdir -p "$DATA" "$CTL" /archive /run/postgresql
chown postgres:postgres "$DATA" /archive /run/postgresql "$CTL"
chmod 700 "$DATA"

configure() {
  cat >"$DATA/chaos.conf" <<EOF
listen_addresses = '*'
port = $PORT
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
archive_mode = on
archive_command = 'bash /opt/chaos/pg-node.sh archive %p %f'
restore_command = 'cp /archive/%f %p'
recovery_target_timeline = 'latest'
synchronous_commit = '${SYNC_COMMIT:-on}'
synchronous_standby_names = '${SYNC_NAMES:-}'
wal_sender_timeout = 5s
wal_receiver_timeout = 5s
wal_retrieve_retry_interval = 500ms
fsync = on
shared_buffers = 32MB
EOF
  grep -q "include 'chaos.conf'" "$DATA/postgresql.conf" || echo "include 'chaos.conf'" >>"$DATA/postgresql.conf"
  cat >"$DATA/pg_hba.conf" <<EOF
local all all trust
host all all 0.0.0.0/0 trust
host replication all 0.0.0.0/0 trust
EOF
  chown postgres:postgres "$DATA/chaos.conf" "$DATA/pg_hba.conf"
}

follow() { # follow HOST: make this data directory a standby of HOST
  touch "$DATA/standby.signal"
  cat >>"$DATA/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=$1 port=$PORT user=postgres application_name=$NODE_NAME connect_timeout=2'
EOF
  chown postgres:postgres "$DATA/standby.signal" "$DATA/postgresql.auto.conf"
}

# Waits until HOST accepts connections. With `watch`, for as long as the agent's role still says
# to follow HOST: 2 once it no longer does (withdrawn, fenced, or another server named).
reachable() { # reachable HOST [watch]
  local r h
  until as_pg pg_isready -q -h "$1" -p "$PORT" -t 1; do
    if [ "${2:-}" = watch ]; then
      [ -f "$CTL/fence" ] && return 2
      r='' h=''
      read -r r h _ <"$CTL/role" 2>/dev/null
      { [ "$r" = standby ] && [ "$h" = "$1" ]; } || return 2
    fi
    sleep 0.2
  done
}

# Marks the data directory unfit before it is emptied or rewritten, on disk before either begins
# (on AWS /control and the data are on different volumes).
mark_unfit() {
  touch "$CTL/needs-clone"
  sync "$CTL" 2>/dev/null
}

base_backup() { # base_backup HOST [watch]: a fresh copy of HOST's data, retried: a copy can be cut short
  local try
  for try in 1 2 3 4 5; do
    reachable "$1" "${2:-}" || return 2
    mark_unfit
    rm -rf "${DATA:?}"/*
    if as_pg "$PGBIN/pg_basebackup" -h "$1" -p "$PORT" -U postgres -D "$DATA" -X stream -c fast >/tmp/basebackup.log 2>&1; then
      configure
      follow "$1"
      touch "$CTL/initialised"
      rm -f "$CTL/needs-clone"
      event base-backup "\"from\":\"$1\",\"try\":$try"
      return 0
    fi
    event base-backup-retry "\"from\":\"$1\",\"try\":$try,\"error\":\"$(tail -n1 /tmp/basebackup.log | tr -d '"\\')\""
    cat /tmp/basebackup.log
    sleep 0.5
  done
  return 1
}

# Becomes a standby of HOST from a data directory that may have been a primary: crash recovery
# offline (no listener, so no client can write), pg_rewind onto HOST, or a fresh base backup.
# 2 when the agent named another server (or none) meanwhile; 1 when nothing could make it one.
demote_to() { # demote_to HOST [rewind]: rewind also a standby (its history forked behind it)
  if [ ! -f "$DATA/standby.signal" ] || [ "${2:-}" = rewind ]; then
    as_pg "$PGBIN/postgres" --single -D "$DATA" -c archive_mode=off postgres </dev/null >/dev/null 2>&1
    reachable "$1" watch || return 2
    # A newly promoted primary writes its new timeline to its control file only at its next
    # checkpoint: without one, pg_rewind sees one timeline and finds nothing to rewind.
    as_pg psql -q -h "$1" -p "$PORT" -U postgres -d postgres -c CHECKPOINT >/dev/null 2>&1
    mark_unfit
    if as_pg "$PGBIN/pg_rewind" --restore-target-wal --target-pgdata="$DATA" --source-server="host=$1 port=$PORT user=postgres dbname=postgres" >/tmp/rewind.log 2>&1; then
      configure
      rm -f "$CTL/needs-clone"
      event rewound "\"onto\":\"$1\""
    else
      event rewind-failed "\"onto\":\"$1\",\"error\":\"$(tail -n1 /tmp/rewind.log | tr -d '"\\')\""
      base_backup "$1" watch
      return $?
    fi
  fi
  sed -i '/^primary_conninfo/d' "$DATA/postgresql.auto.conf" 2>/dev/null
  follow "$1"
}

# Whether the data directory is unfit to start: a copy or a rewind was cut off, or a copy was
# cut off so early that PG_VERSION is gone.
unfit() {
  [ -f "$CTL/needs-clone" ] || { [ -f "$CTL/initialised" ] && [ ! -f "$DATA/PG_VERSION" ]; }
}

# The role to start in: on a first boot from the environment; after a restart (a power loss)
# only from the agent, which reads the writer record, so an old primary never comes back as one.
if [ ! -f "$DATA/PG_VERSION" ] && [ ! -f "$CTL/initialised" ] && [ ! -f "$CTL/needs-clone" ]; then
  if [ "$PG_ROLE" = primary ]; then
    as_pg "$PGBIN/initdb" -D "$DATA" --auth=trust -U postgres >/dev/null || exit 1
    configure
    touch "$CTL/initialised"
    event initialised
  else
    base_backup "$PRIMARY_HOST" || { event base-backup-failed; exit 1; }
  fi
else
  # Not a first boot, whatever PG_VERSION says: an emptied data directory is a copy cut short,
  # never a new cluster (initdb would make an empty primary of a node the others moved past).
  # needs-clone also when only PG_VERSION is missing: the agent reads it, and takes no lease.
  if unfit; then
    why="$([ -f "$CTL/needs-clone" ] && echo 'a copy or a rewind was cut off' || echo 'the data directory is empty')"
    touch "$CTL/needs-clone"
    event data-unfit "\"why\":\"$why\",\"then\":\"a standby's role only, by a new base backup\""
  fi
  # What the agent asked of the server before the node went down is void (a fence included):
  # the agent, booting beside it, gives its role again from what the registry says now.
  rm -f "$CTL/role" "$CTL/restart" "$CTL/fence" "$CTL/lease-until"
  event waiting-for-role
  boot_takes_role=1
fi

pid=
# Starts the server; returns 1 if it dies before it accepts connections. A fence the agent
# writes meanwhile (its lease ran out while the server was recovering) stops it before it serves:
# it returns with the server down and the fence in place, for the main loop's fence branch.
start() {
  as_pg "$PGBIN/postgres" -D "$DATA" &
  pid=$!
  until [ -f "$CTL/fence" ] || as_pg pg_isready -q -h 127.0.0.1 -p "$PORT" -t 1; do
    kill -0 "$pid" 2>/dev/null || { event server-died; return 1; }
    sleep 0.1
  done
  if [ -f "$CTL/fence" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -W stop >/dev/null 2>&1
    wait "$pid" 2>/dev/null
    event fenced-while-starting
    return 0
  fi
  echo chaos-pg-ready
  event ready "\"standby\":$([ -f "$DATA/standby.signal" ] && echo true || echo false)"
}

# Starts as a standby of HOST; if that server cannot follow HOST (its history went past the
# fork), a fresh base backup of HOST instead.
start_standby_of() {
  start && return 0
  event start-failed "\"following\":\"$1\",\"then\":\"base backup\""
  base_backup "$1" watch || return $?
  start || exit 1
}

# The agent's word, once it gives one: sets role, host and flag. The file is replaced whole (a
# rename), but may be withdrawn between the test and the read: only a role read in full counts.
await_role() {
  while :; do
    role='' host='' flag=''
    if [ -s "$CTL/role" ]; then
      read -r role host flag <"$CTL/role" 2>/dev/null
      case "$role" in
        primary) return 0 ;;
        standby) [ -n "$host" ] && return 0 ;;
      esac
    fi
    sleep 0.1
  done
}

# Waits for the role the agent gives and starts the server in it; when the agent names another
# server to follow (or none) before this one could follow the first, starts over with its new word.
take_role() {
  local rc
  while :; do
    await_role
    # A restart asked for with this role is this start (the agent writes the role, then `restart`).
    rm -f "$CTL/restart"
    event restarted-as "\"role\":\"$role\""
    if [ "$role" = primary ] && unfit; then
      # Never lead from a half-made copy: the agent's next word (another node leads) is awaited.
      event role-refused "\"role\":\"primary\",\"why\":\"the data directory is unfit to start (a copy or a rewind was cut off, or it is empty)\""
      while [ -f "$CTL/role" ] && read -r r _ <"$CTL/role" 2>/dev/null && [ "$r" = primary ]; do sleep 0.2; done
      rm -f "$CTL/fence" # nothing runs to fence
      continue
    fi
    if [ "$role" = primary ]; then
      rm -f "$DATA/standby.signal"
      start || exit 1
      return 0
    fi
    rc=0
    if unfit; then
      base_backup "$host" watch || rc=$?
    else
      demote_to "$host" "${flag:-}" || rc=$?
    fi
    [ "$rc" = 0 ] && { start_standby_of "$host" || rc=$?; }
    [ "$rc" = 0 ] && return 0
    [ "$rc" = 2 ] || exit 1
    rm -f "$CTL/fence"
    event role-changed "\"was\":\"standby $host\",\"then\":\"waiting for the agent's new word\""
  done
}
# A fast shutdown through pg_ctl: $pid is runuser's, which does not pass a signal on to postgres.
stop_server() {
  as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1
  wait "$pid" 2>/dev/null
}
# Whether the agent's lease deadline has passed while the server runs as a primary (the agent
# did not renew in time, and did not fence it either: it is gone). A standby has nothing to fence.
lease_lapsed() {
  local deadline now
  [ -f "$DATA/standby.signal" ] && return 1
  read -r deadline <"$CTL/lease-until" 2>/dev/null || return 1
  [[ "$deadline" =~ ^[0-9]+$ ]] || return 1
  now=${EPOCHREALTIME//[!0-9]/} # microseconds, whatever the locale's decimal sign
  [ "${now:0:13}" -ge "$deadline" ]
}
trap 'stop_server; exit 0' TERM INT
if [ -n "${boot_takes_role:-}" ]; then take_role; else start || exit 1; fi
while :; do
  if [ -f "$CTL/fence" ]; then
    # The role is the agent's to give again, from what the registry says now: it withdrew the one
    # in force before it wrote the fence, and any role there now is its next word (never removed
    # here: the agent would not write it twice).
    rm -f "$CTL/fence" "$CTL/restart"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -W stop >/dev/null 2>&1
    event fenced "\"how\":\"pg_ctl stop -m immediate\""
    wait "$pid" 2>/dev/null
    event waiting-for-role
    take_role
  fi
  if lease_lapsed; then
    # The agent's word is void with it: the role is withdrawn here, and the node waits for a
    # role from an agent that holds the lease again (a live one says it again on its next check).
    # A fence the agent wrote meanwhile (both woke at once from a pause) asks for this very stop.
    deadline=$(cat "$CTL/lease-until" 2>/dev/null)
    rm -f "$CTL/role" "$CTL/restart" "$CTL/lease-until" "$CTL/fence"
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -W stop >/dev/null 2>&1
    event watchdog-fenced "\"leaseDeadline\":${deadline:-null},\"how\":\"pg_ctl stop -m immediate\",\"why\":\"the server was still a primary past its agent's lease deadline (and half its margin): by then the agent had neither renewed the lease nor had it stopped\""
    wait "$pid" 2>/dev/null
    event waiting-for-role
    take_role
  fi
  if [ -f "$CTL/restart" ]; then
    stop_server
    r='' h=''
    read -r r h _ <"$CTL/role" 2>/dev/null
    event stopped-to-rejoin "\"as\":\"$r\",\"host\":\"$h\""
    take_role
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    # The server's process died (killed): start it again in the role it had, as a supervisor
    # would; crash recovery replays the WAL first.
    wait "$pid" 2>/dev/null
    event server-died
    start || exit 1
  fi
  sleep 0.1
done
