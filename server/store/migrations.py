"""Versioned schema migrations, applied in order at start, once, whichever engine.

Each migration is a version number and a list of statements written in the SQL
both SQLite and PostgreSQL accept. A migration never changes once released; a
change to the schema is a new migration. ``schema_migrations`` records what is
applied, so starting several server instances at once is safe: on PostgreSQL an
advisory lock lets one migrate while the others wait.
"""

from __future__ import annotations

import logging
import time

from .db import Database, Tx

log = logging.getLogger(__name__)

Statement = str | dict[str, str]
"""Portable SQL, or one text per dialect (``{"sqlite": …, "postgresql": …}``) where they cannot agree."""

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
    (
        1,
        "core network",
        [
            """CREATE TABLE server_keys (
                id INTEGER PRIMARY KEY,
                signing_seed TEXT NOT NULL,
                secret TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE users (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
                auth_salt TEXT NOT NULL,
                opslimit INTEGER NOT NULL,
                memlimit BIGINT NOT NULL,
                auth_hash TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                token_hash TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL)""",
            "CREATE INDEX sessions_user ON sessions(user_id)",
            """CREATE TABLE shards (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                description TEXT NOT NULL DEFAULT '',
                created_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE clusters (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                generation INTEGER NOT NULL,
                created_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE cluster_credentials (
                cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
                generation INTEGER NOT NULL,
                public_key TEXT NOT NULL,
                not_after DOUBLE PRECISION,
                PRIMARY KEY (cluster_id, generation))""",
            """CREATE TABLE cluster_shards (
                cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
                shard_id TEXT NOT NULL REFERENCES shards(id),
                can_read BOOLEAN NOT NULL,
                can_write BOOLEAN NOT NULL,
                PRIMARY KEY (cluster_id, shard_id))""",
            """CREATE TABLE fileservers (
                id TEXT PRIMARY KEY,
                cluster_id TEXT NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
                url TEXT NOT NULL,
                public_key TEXT NOT NULL,
                version TEXT NOT NULL,
                registered_at DOUBLE PRECISION NOT NULL,
                last_seen DOUBLE PRECISION NOT NULL,
                active_transfers INTEGER NOT NULL DEFAULT 0,
                bytes_per_s BIGINT NOT NULL DEFAULT 0,
                free_bytes BIGINT,
                chunk_count BIGINT NOT NULL DEFAULT 0)""",
            "CREATE INDEX fileservers_last_seen ON fileservers(last_seen)",
            """CREATE TABLE fileserver_shards (
                fileserver_id TEXT NOT NULL REFERENCES fileservers(id) ON DELETE CASCADE,
                shard_id TEXT NOT NULL REFERENCES shards(id) ON DELETE CASCADE,
                can_read BOOLEAN NOT NULL,
                can_write BOOLEAN NOT NULL,
                backend TEXT NOT NULL,
                free_bytes BIGINT,
                PRIMARY KEY (fileserver_id, shard_id))""",
            """CREATE TABLE request_nonces (
                nonce TEXT PRIMARY KEY,
                seen_at DOUBLE PRECISION NOT NULL)""",
            "CREATE INDEX request_nonces_seen ON request_nonces(seen_at)",
            """CREATE TABLE files (
                id TEXT PRIMARY KEY,
                owner_id TEXT NOT NULL REFERENCES users(id),
                shard_id TEXT NOT NULL REFERENCES shards(id),
                size BIGINT NOT NULL,
                chunk_count INTEGER NOT NULL,
                chunk_size INTEGER NOT NULL,
                metadata TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                completed_at DOUBLE PRECISION)""",
            "CREATE INDEX files_owner ON files(owner_id)",
            "CREATE INDEX files_expires ON files(expires_at)",
            """CREATE TABLE chunks (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                idx INTEGER NOT NULL,
                hash TEXT NOT NULL,
                size INTEGER NOT NULL,
                PRIMARY KEY (file_id, idx))""",
            "CREATE INDEX chunks_hash ON chunks(hash)",
            """CREATE TABLE chunk_locations (
                hash TEXT NOT NULL,
                fileserver_id TEXT NOT NULL REFERENCES fileservers(id) ON DELETE CASCADE,
                shard_id TEXT NOT NULL REFERENCES shards(id),
                stored_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (hash, fileserver_id))""",
            """CREATE TABLE tickets (
                jti TEXT PRIMARY KEY,
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                op TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                revoked BOOLEAN NOT NULL DEFAULT FALSE)""",
            "CREATE INDEX tickets_file ON tickets(file_id)",
            "CREATE INDEX tickets_expires ON tickets(expires_at)",
        ],
    ),
]

MIGRATIONS.append(
    (
        2,
        "user keys, sealed file keys, chunk garbage queue",
        [
            "ALTER TABLE users ADD COLUMN public_key TEXT",
            "ALTER TABLE users ADD COLUMN wrapped_private_key TEXT",
            "ALTER TABLE files ADD COLUMN sealed_key TEXT NOT NULL DEFAULT ''",
            """CREATE TABLE chunk_garbage (
                hash TEXT NOT NULL,
                shard_id TEXT NOT NULL,
                queued_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (hash, shard_id))""",
        ],
    )
)

_APPEND_ONLY = "the audit log is append-only"

MIGRATIONS.append(
    (
        3,
        "lifecycle: per-file chunk locations, purge queue, holds, quotas, audit log, limits",
        [
            # Revocations must outlive a deleted file, so tickets no longer cascade with it.
            """CREATE TABLE tickets_v3 (
                jti TEXT PRIMARY KEY,
                file_id TEXT NOT NULL,
                op TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                revoked BOOLEAN NOT NULL DEFAULT FALSE)""",
            "INSERT INTO tickets_v3 SELECT jti, file_id, op, expires_at, revoked FROM tickets",
            "DROP TABLE tickets",
            "ALTER TABLE tickets_v3 RENAME TO tickets",
            "CREATE INDEX tickets_file ON tickets(file_id)",
            "CREATE INDEX tickets_expires ON tickets(expires_at)",
            # A location belongs to one file and stays until its fileserver confirms the chunk is gone.
            """CREATE TABLE chunk_locations_v3 (
                file_id TEXT NOT NULL,
                hash TEXT NOT NULL,
                fileserver_id TEXT NOT NULL REFERENCES fileservers(id) ON DELETE CASCADE,
                shard_id TEXT NOT NULL REFERENCES shards(id),
                stored_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (file_id, hash, fileserver_id))""",
            "INSERT INTO chunk_locations_v3 SELECT DISTINCT c.file_id, l.hash, l.fileserver_id, l.shard_id, "
            "l.stored_at FROM chunk_locations l JOIN chunks c ON c.hash = l.hash",
            "DROP TABLE chunk_locations",
            "ALTER TABLE chunk_locations_v3 RENAME TO chunk_locations",
            "CREATE INDEX chunk_locations_fileserver ON chunk_locations(fileserver_id)",
            "DROP TABLE chunk_garbage",
            """CREATE TABLE purges (
                fileserver_id TEXT NOT NULL REFERENCES fileservers(id) ON DELETE CASCADE,
                file_id TEXT NOT NULL,
                shard_id TEXT NOT NULL REFERENCES shards(id),
                reason TEXT NOT NULL,
                queued_at DOUBLE PRECISION NOT NULL,
                sent_at DOUBLE PRECISION,
                PRIMARY KEY (fileserver_id, file_id))""",
            "CREATE INDEX purges_queue ON purges(fileserver_id, queued_at)",
            "ALTER TABLE files ADD COLUMN hold BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE files ADD COLUMN active_at DOUBLE PRECISION",
            "UPDATE files SET active_at = created_at",
            "CREATE INDEX files_pending ON files(state, active_at)",
            "ALTER TABLE users ADD COLUMN hold BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE users ADD COLUMN quota_bytes BIGINT",
            "ALTER TABLE users ADD COLUMN quota_files BIGINT",
            "ALTER TABLE fileservers ADD COLUMN lost_at DOUBLE PRECISION",
            {
                "sqlite": """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                at DOUBLE PRECISION NOT NULL,
                action TEXT NOT NULL,
                outcome TEXT NOT NULL,
                actor TEXT,
                address TEXT,
                object TEXT,
                detail TEXT NOT NULL)""",
                "postgresql": """CREATE TABLE audit_log (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                at DOUBLE PRECISION NOT NULL,
                action TEXT NOT NULL,
                outcome TEXT NOT NULL,
                actor TEXT,
                address TEXT,
                object TEXT,
                detail TEXT NOT NULL)""",
            },
            "CREATE INDEX audit_log_at ON audit_log(at)",
            "CREATE INDEX audit_log_actor ON audit_log(actor, at)",
            {
                "sqlite": "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
                "postgresql": "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$",
            },
            {
                "sqlite": "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END",
                "postgresql": "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            },
            """CREATE TABLE job_leases (
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL)""",
            """CREATE TABLE rate_counters (
                key TEXT PRIMARY KEY,
                window_start DOUBLE PRECISION NOT NULL,
                count INTEGER NOT NULL)""",
            """CREATE TABLE login_failures (
                key TEXT PRIMARY KEY,
                failures INTEGER NOT NULL,
                last_at DOUBLE PRECISION NOT NULL,
                locked_until DOUBLE PRECISION)""",
        ],
    )
)

MIGRATIONS.append(
    (
        4,
        "sharing: key commitments, ticket holders, shares, links and link downloads",
        [
            "ALTER TABLE files ADD COLUMN key_commitment TEXT NOT NULL DEFAULT ''",
            # Who a ticket was issued to (a user id, or a link id), so ending a share or a link revokes its tickets.
            "ALTER TABLE tickets ADD COLUMN holder TEXT NOT NULL DEFAULT ''",
            """CREATE TABLE shares (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                share_key TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (file_id, user_id))""",
            "CREATE INDEX shares_user ON shares(user_id)",
            """CREATE TABLE links (
                id TEXT PRIMARY KEY,
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                max_downloads INTEGER,
                downloads INTEGER NOT NULL DEFAULT 0,
                protected BOOLEAN NOT NULL DEFAULT FALSE,
                revoked_at DOUBLE PRECISION)""",
            "CREATE INDEX links_file ON links(file_id)",
            "CREATE INDEX links_owner ON links(owner_id)",
            """CREATE TABLE link_downloads (
                id TEXT PRIMARY KEY,
                link_id TEXT NOT NULL REFERENCES links(id) ON DELETE CASCADE,
                started_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL)""",
            "CREATE INDEX link_downloads_expires ON link_downloads(expires_at)",
        ],
    )
)

MIGRATIONS.append(
    (
        5,
        "files: the encryption format version of each record",
        # Records written before the field existed are format 1, the only format there was.
        ["ALTER TABLE files ADD COLUMN format_version INTEGER NOT NULL DEFAULT 1"],
    )
)

MIGRATIONS.append(
    (
        6,
        "audit: refusals counted per address and window instead of one row each",
        [
            # One row per (window, action, outcome, client): the refusal that opened the window is
            # the audit_log row at first_at from first_address; every later one only adds to repeats.
            # A client is an IPv4 address or an IPv6 /64 (coffer.serving.limits.client_key).
            """CREATE TABLE audit_repeats (
                window_index BIGINT NOT NULL,
                action TEXT NOT NULL,
                outcome TEXT NOT NULL,
                address TEXT NOT NULL,
                first_at DOUBLE PRECISION,
                first_address TEXT,
                repeats BIGINT NOT NULL DEFAULT 0,
                PRIMARY KEY (window_index, action, outcome, address))""",
            "CREATE INDEX audit_repeats_first ON audit_repeats(first_at)",
        ],
    )
)

MIGRATIONS.append(
    (
        7,
        "files and links: indexes that page an owner's listings by (created_at, id)",
        [
            "CREATE INDEX files_owner_created ON files(owner_id, created_at, id)",
            "CREATE INDEX links_owner_created ON links(owner_id, created_at, id)",
        ],
    )
)

MIGRATIONS.append(
    (
        8,
        "link_downloads: the chunk tickets handed to each download, and until when they hold",
        [
            "ALTER TABLE link_downloads ADD COLUMN chunk_tickets INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE link_downloads ADD COLUMN tickets_exp DOUBLE PRECISION NOT NULL DEFAULT 0",
        ],
    )
)

MIGRATIONS.append(
    (
        9,
        "revocations: by file and holder, numbered so fileservers fetch only what is new",
        [
            # One row revokes every ticket it matches (a NULL column matches anything) issued at or before
            # issued_before; expires_at is the latest expiry among them. seq is the fileservers' cursor.
            {
                "sqlite": "CREATE TABLE revocations (seq INTEGER PRIMARY KEY AUTOINCREMENT, holder TEXT, "
                "file_id TEXT, op TEXT, issued_before BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
                "postgresql": "CREATE TABLE revocations (seq BIGSERIAL PRIMARY KEY, holder TEXT, "
                "file_id TEXT, op TEXT, issued_before BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
            },
            "CREATE INDEX revocations_expires ON revocations(expires_at)",
            "CREATE INDEX tickets_holder_file ON tickets(holder, file_id)",
        ],
    )
)

MIGRATIONS.append(
    (
        10,
        "invitations, where each user's key pair was made, and key rotation",
        [
            # Only a hash of the one-time code is kept; a spent or replaced invitation keeps its row for the record.
            """CREATE TABLE invitations (
                id TEXT PRIMARY KEY,
                code_hash TEXT NOT NULL UNIQUE,
                username TEXT NOT NULL,
                role TEXT NOT NULL,
                created_by TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                used_at DOUBLE PRECISION)""",
            "CREATE INDEX invitations_username ON invitations(username)",
            # Accounts made before invitations: an administrator's client may have made the key pair.
            "ALTER TABLE users ADD COLUMN key_origin TEXT NOT NULL DEFAULT 'legacy'",
            # While a rotation runs: the old pair, its private key wrapped under the new master key.
            "ALTER TABLE users ADD COLUMN previous_public_key TEXT",
            "ALTER TABLE users ADD COLUMN previous_wrapped_private_key TEXT",
            # A share box made with or for a key pair that was rotated away: its owner must box it again.
            "ALTER TABLE shares ADD COLUMN stale BOOLEAN NOT NULL DEFAULT FALSE",
        ],
    )
)

MIGRATIONS.append(
    (
        11,
        "copies: each shard's copy count, and the repairs ordered of chunks below it",
        [
            "ALTER TABLE shards ADD COLUMN copies INTEGER NOT NULL DEFAULT 1",
            # One open repair per chunk: the fileserver ordered to copy it, from where, and how often it failed.
            # A row whose tries reached the limit is given up (listed by the admin), until retried much later.
            """CREATE TABLE repairs (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                hash TEXT NOT NULL,
                target_id TEXT,
                source_id TEXT,
                ordered_at DOUBLE PRECISION NOT NULL,
                tries INTEGER NOT NULL DEFAULT 0,
                problem TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (file_id, hash))""",
            "CREATE INDEX repairs_target ON repairs(target_id)",
        ],
    )
)

MIGRATIONS.append(
    (
        12,
        "event_outbox: change events written with the change, published to NATS by a job",
        [
            # seq orders publication; id is the JetStream Nats-Msg-Id a consumer de-duplicates by.
            {
                "sqlite": "CREATE TABLE event_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
                "type TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)",
                "postgresql": "CREATE TABLE event_outbox (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, "
                "type TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, body TEXT NOT NULL)",
            },
        ],
    )
)

MIGRATIONS.append(
    (
        13,
        "files: the client's create id, so a resent create answers the file it made instead of a second one; "
        "an index the metrics' per-shard totals are read from",
        [
            # create_digest is a hash of the create's body: a resend must ask for the same file to get it back.
            "ALTER TABLE files ADD COLUMN create_id TEXT",
            "ALTER TABLE files ADD COLUMN create_digest TEXT",
            # NULLs are distinct in both engines: files made without a create id never collide.
            "CREATE UNIQUE INDEX files_owner_create_id ON files(owner_id, create_id)",
            # Covers each scrape's files and bytes per shard and state: read from the index, not the table.
            "CREATE INDEX files_shard_state_size ON files(shard_id, state, size)",
        ],
    )
)

MIGRATIONS.append(
    (
        14,
        "sites: one open copy order per chunk and site, copied locations marked, a bandwidth cap per link",
        [
            # site is the target cluster of a site copy, or '' for a repair toward the shard's copy count.
            """CREATE TABLE repairs_v14 (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                hash TEXT NOT NULL,
                site TEXT NOT NULL DEFAULT '',
                target_id TEXT,
                source_id TEXT,
                ordered_at DOUBLE PRECISION NOT NULL,
                tries INTEGER NOT NULL DEFAULT 0,
                problem TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (file_id, hash, site))""",
            "INSERT INTO repairs_v14 (file_id, hash, site, target_id, source_id, ordered_at, tries, problem) "
            "SELECT file_id, hash, '', target_id, source_id, ordered_at, tries, problem FROM repairs",
            "DROP TABLE repairs",
            "ALTER TABLE repairs_v14 RENAME TO repairs",
            "CREATE INDEX repairs_target ON repairs(target_id)",
            # A location made by a copy (repair or site sync), not by an upload: the copy rate is read from these.
            "ALTER TABLE chunk_locations ADD COLUMN copied BOOLEAN NOT NULL DEFAULT FALSE",
            "CREATE INDEX chunk_locations_copied ON chunk_locations(copied, stored_at)",
            # Bytes per second a cluster's fileservers may fetch for the shard's copies; 0: no cap.
            "ALTER TABLE cluster_shards ADD COLUMN bandwidth BIGINT NOT NULL DEFAULT 0",
            # What fileservers reported against a copy: a scrub or a copier found it corrupt, or the
            # fileserver's own inventory (its reconcile listing) lacks it. Cleared when its site holds it again.
            """CREATE TABLE copy_faults (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                hash TEXT NOT NULL,
                fileserver_id TEXT NOT NULL REFERENCES fileservers(id) ON DELETE CASCADE,
                kind TEXT NOT NULL CHECK (kind IN ('corrupt', 'missing')),
                at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (file_id, hash, fileserver_id))""",
            # When the fileserver last listed its storage to the server (a reconcile batch): the evidence's age.
            "ALTER TABLE fileservers ADD COLUMN inventory_at DOUBLE PRECISION",
        ],
    )
)

MIGRATIONS.append(
    (
        15,
        "copy_backlog: the chunks that may still need a copy, so each beat's copy planning reads them, not every chunk",
        [
            # A superset of the chunks below their count or missing at a read-linked site; checked = FALSE until
            # a beat's planning has looked at the row since it was added (a settled one is then deleted).
            """CREATE TABLE copy_backlog (
                file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
                hash TEXT NOT NULL,
                checked BOOLEAN NOT NULL DEFAULT FALSE,
                PRIMARY KEY (file_id, hash))""",
            "CREATE INDEX copy_backlog_checked ON copy_backlog(checked)",
            # One row: the counted fileservers the backlog was last rebuilt for ('stale': rebuild at the next beat).
            # Every writer of the backlog updates it first, so they take turns.
            "CREATE TABLE copy_plan (id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL)",
            "INSERT INTO copy_plan (id, fingerprint) VALUES (1, 'stale')",
        ],
    )
)

MIGRATIONS.append(
    (
        16,
        "files: each owner's sizes in an index, so the quota check of every create reads the index, not the rows",
        [
            # Covers quotas.USAGE_SQL; it serves every lookup files_owner served, so that one goes.
            "CREATE INDEX files_owner_size ON files(owner_id, size)",
            "DROP INDEX files_owner",
        ],
    )
)

_USAGE_IN = "UPDATE users SET used_bytes = used_bytes + NEW.size, used_files = used_files + 1 WHERE id = NEW.owner_id;"
_USAGE_OUT = "UPDATE users SET used_bytes = used_bytes - OLD.size, used_files = used_files - 1 WHERE id = OLD.owner_id;"

MIGRATIONS.append(
    (
        17,
        "users: each user's files and bytes in counters the database keeps as files come and go, "
        "so the quota check of every create reads one row, however many files the user has",
        [
            "ALTER TABLE users ADD COLUMN used_bytes BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE users ADD COLUMN used_files BIGINT NOT NULL DEFAULT 0",
            "UPDATE users SET "
            "used_bytes = (SELECT COALESCE(SUM(size), 0) FROM files WHERE files.owner_id = users.id), "
            "used_files = (SELECT COUNT(*) FROM files WHERE files.owner_id = users.id)",
            # Triggers, not the code's every path: deletes by the retention sweep, by a user's removal and
            # by any later path keep the counters without knowing of them.
            {
                "sqlite": f"CREATE TRIGGER files_usage_insert AFTER INSERT ON files BEGIN {_USAGE_IN} END",
                "postgresql": "CREATE FUNCTION files_usage() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_USAGE_OUT} END IF; "
                f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_USAGE_IN} END IF; "
                "RETURN NULL; END $$",
            },
            {
                "sqlite": f"CREATE TRIGGER files_usage_delete AFTER DELETE ON files BEGIN {_USAGE_OUT} END",
                "postgresql": "CREATE TRIGGER files_usage AFTER INSERT OR DELETE OR UPDATE OF size, owner_id ON files "
                "FOR EACH ROW EXECUTE FUNCTION files_usage()",
            },
            {
                "sqlite": "CREATE TRIGGER files_usage_update AFTER UPDATE OF size, owner_id ON files "
                f"BEGIN {_USAGE_OUT} {_USAGE_IN} END",
                "postgresql": "COMMENT ON TRIGGER files_usage ON files IS 'keeps users.used_bytes, users.used_files'",
            },
        ],
    )
)

MIGRATION_LOCK = 0x436F66666572  # "Coffer"


def _applied(tx: Tx) -> set[int]:
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
    )
    return {row["version"] for row in tx.all("SELECT version FROM schema_migrations")}


def migrate(db: Database) -> list[int]:
    """Apply every migration not yet applied, each in its own transaction; return their versions."""
    done: list[int] = []
    for version, name, statements in MIGRATIONS:
        with db.transaction() as tx:
            if db.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(?)", (MIGRATION_LOCK,))
            if version in _applied(tx):
                continue
            for statement in statements:
                tx.execute(statement if isinstance(statement, str) else statement[db.dialect])
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, time.time()),
            )
            done.append(version)
            log.info("migration applied", extra={"kv": {"version": version, "name": name}})
    return done


def current_version(db: Database) -> int:
    with db.transaction() as tx:
        return max(_applied(tx), default=0)
