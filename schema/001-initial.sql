-- procsync state database, schema version 1.
--
-- Every table has exactly one writing daemon, named by its prefix: scan_* (procsync-scanner),
-- match_* (procsync-matcher), export_* (procsync-exporter). procsync-api and procctl only read.
-- Times named *_at, first_seen and last_seen are wall-clock milliseconds since the epoch;
-- start_time is the process start in epoch seconds (what DeepFlow wants), start_ticks the same in clock
-- ticks since boot (the exact identity: a pid with a new start_ticks is a new process).

-- One row per daemon: its heartbeat, written at the end of every cycle (and at start-up).
-- generation is bumped only when the daemon's output tables changed.
CREATE TABLE scan_daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        pid_start_ticks INTEGER NOT NULL,      -- to check the pid still names this daemon before signalling
        started_at INTEGER NOT NULL,
        last_cycle_at INTEGER,
        last_cycle_ms INTEGER,
        generation INTEGER NOT NULL DEFAULT 0,
        config_path TEXT,
        config_ok INTEGER NOT NULL DEFAULT 1,
        config_error TEXT,
        last_error TEXT,
        stats TEXT                              -- JSON object of the last cycle's figures
);

CREATE TABLE match_daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        pid_start_ticks INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        last_cycle_at INTEGER,
        last_cycle_ms INTEGER,
        generation INTEGER NOT NULL DEFAULT 0,
        scan_generation INTEGER NOT NULL DEFAULT 0,  -- the scan generation the decisions were made from
        config_path TEXT,
        config_ok INTEGER NOT NULL DEFAULT 1,
        config_error TEXT,
        last_error TEXT,
        stats TEXT
);

CREATE TABLE export_daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        pid_start_ticks INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        last_cycle_at INTEGER,
        last_cycle_ms INTEGER,
        generation INTEGER NOT NULL DEFAULT 0,
        match_generation INTEGER NOT NULL DEFAULT 0,
        config_path TEXT,
        config_ok INTEGER NOT NULL DEFAULT 1,
        config_error TEXT,
        last_error TEXT,
        stats TEXT
);

-- Network namespaces in first-sight order: idx is the stable small index (never reused).
CREATE TABLE scan_netns (
        inode INTEGER PRIMARY KEY,
        idx INTEGER NOT NULL UNIQUE,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
);

CREATE TABLE scan_processes (
        pid INTEGER PRIMARY KEY,
        start_ticks INTEGER NOT NULL,
        start_time INTEGER NOT NULL,
        ppid INTEGER NOT NULL,
        comm TEXT NOT NULL,
        cmdline TEXT NOT NULL,                  -- argv joined by single spaces; '' for kernel threads
        exe TEXT NOT NULL DEFAULT '',
        uid INTEGER NOT NULL,
        user TEXT NOT NULL,
        netns_inode INTEGER NOT NULL DEFAULT 0,
        container_id TEXT NOT NULL DEFAULT '',
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        changed_generation INTEGER NOT NULL     -- scan generation of the last change of this row
);

-- Kept sockets (TCP listen/established, UDP bound/connected). Addresses are text: "1.2.3.4", "::1"
-- (v4-mapped addresses stored as IPv4). state is one of: listen, established, bound, connected.
CREATE TABLE scan_sockets (
        id INTEGER PRIMARY KEY,
        netns_inode INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        proto TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
        family INTEGER NOT NULL CHECK (family IN (4, 6)),
        state TEXT NOT NULL,
        local_addr TEXT NOT NULL,
        local_port INTEGER NOT NULL,
        remote_addr TEXT NOT NULL,
        remote_port INTEGER NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('server', 'client')),
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        UNIQUE (netns_inode, inode)
);

-- Every owner of a socket (a socket shared by a parent and its children has several).
CREATE TABLE scan_socket_owners (
        socket_id INTEGER NOT NULL REFERENCES scan_sockets (id) ON DELETE CASCADE,
        pid INTEGER NOT NULL,
        PRIMARY KEY (socket_id, pid)
) WITHOUT ROWID;
CREATE INDEX scan_socket_owners_pid ON scan_socket_owners (pid);

-- The matcher's decision for every scanned process.
-- action: accept | drop; reason: why (e.g. 'rule', 'too-young', 'untagged', 'kernel-thread');
-- synced = 1 when the process goes to the sinks (accepted, old enough, tagged if tagged-only).
CREATE TABLE match_decisions (
        pid INTEGER PRIMARY KEY,
        start_ticks INTEGER NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('accept', 'drop')),
        rule INTEGER NOT NULL,                  -- index of the deciding rule; n_rules = implied final accept
        name TEXT NOT NULL,
        reason TEXT NOT NULL,
        synced INTEGER NOT NULL,
        tags TEXT NOT NULL DEFAULT '{}',        -- JSON object, own and inherited tags, keys sorted
        decided_at INTEGER NOT NULL
);

-- The last good output of the tag command (own tags per pid), kept across failures and restarts.
CREATE TABLE match_tag_output (
        pid INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (pid, key)
) WITHOUT ROWID;

-- State of the tag command: one row.
CREATE TABLE match_tag_exec (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        ok INTEGER NOT NULL,
        error TEXT,
        last_run INTEGER,                       -- *_at of the last attempt
        last_ok INTEGER,                        -- *_at of the last success
        duration_ms INTEGER,
        entries INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,    -- total failed runs since the daemon started
        stderr_excerpt TEXT
);

-- Per-rule counters: hits, and evaluations stopped by the PCRE2 match/depth limits.
CREATE TABLE match_rule_stats (
        rule INTEGER PRIMARY KEY,
        hits INTEGER NOT NULL DEFAULT 0,
        limit_hits INTEGER NOT NULL DEFAULT 0
);

-- The synced state the exporter built last: version follows the DeepFlow rule (start at the exporter's
-- first start in epoch seconds, +1 per content change); digest covers every synced field.
CREATE TABLE export_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL,
        digest TEXT NOT NULL,
        match_generation INTEGER NOT NULL,
        built_at INTEGER NOT NULL
);

-- One row per configured sink: what it has acknowledged and its last error.
CREATE TABLE export_sinks (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        acked_version INTEGER NOT NULL DEFAULT 0,
        last_attempt_at INTEGER,
        last_ok_at INTEGER,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,    -- consecutive failures (drives the backoff)
        errors_total INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER
);

-- Global process ids assigned by a DeepFlow server (GPIDSync answers), per sink.
CREATE TABLE export_gpids (
        sink TEXT NOT NULL,
        pid INTEGER NOT NULL,
        gpid INTEGER NOT NULL,
        PRIMARY KEY (sink, pid)
) WITHOUT ROWID;

-- The heartbeats of all daemons in one shape, for the API and procctl.
CREATE VIEW daemons AS
        SELECT 'scanner' AS name, pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation,
               config_path, config_ok, config_error, last_error, stats FROM scan_daemon
        UNION ALL
        SELECT 'matcher', pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation,
               config_path, config_ok, config_error, last_error, stats FROM match_daemon
        UNION ALL
        SELECT 'exporter', pid, pid_start_ticks, started_at, last_cycle_at, last_cycle_ms, generation,
               config_path, config_ok, config_error, last_error, stats FROM export_daemon;

-- Per-socket gpids from a DeepFlow server's GPIDSync answer: the local process's and the far side's.
CREATE TABLE export_socket_gpids (
        sink TEXT NOT NULL,
        netns_inode INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        local_gpid INTEGER NOT NULL,
        remote_gpid INTEGER NOT NULL,
        PRIMARY KEY (sink, netns_inode, inode)
) WITHOUT ROWID;
