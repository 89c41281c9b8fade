"""Name every route of the server and fileserver APIs once, so no caller spells a path.

Upper-case names are the templates a server registers (Falcon's ``{field}`` syntax);
lower-case functions fill a template with ids for a caller. A path changes here or
nowhere: docs/api.md and docs/openapi.yaml describe the same paths, and the tests pin
them against both.
"""

from __future__ import annotations

PREFIX = "/api/"

# Both programs
HEALTH = "/api/health"
READY = "/api/ready"

# Server: accounts and sessions
INFO = "/api/info"
PRELOGIN = "/api/auth/prelogin"
LOGIN = "/api/auth/login"
LOGOUT = "/api/auth/logout"
JOIN = "/api/auth/join"
SESSIONS = "/api/auth/sessions"
SESSION = "/api/auth/sessions/{session_id}"
PASSWORD = "/api/auth/password"
ME = "/api/me"
MY_KEYS = "/api/me/keys"
MY_KEY_ROTATION = "/api/me/keys/rotation"
MY_FILE_KEYS = "/api/me/keys/files"
MY_QUOTA = "/api/me/quota"

# Server: fileservers reporting in (cluster-signed)
FILESERVERS_PREFIX = "/api/fileservers/"
REGISTER = "/api/fileservers/register"
HEARTBEAT = "/api/fileservers/heartbeat"
RECONCILE = "/api/fileservers/reconcile"

# Server: shards, files, tickets
SHARDS = "/api/shards"
SHARD_FILESERVERS = "/api/shards/{shard}/fileservers"
FILES = "/api/files"
FILE_DELETIONS = "/api/files/deletions"
FILE = "/api/files/{file_id}"
FILE_TICKETS = "/api/files/{file_id}/tickets"
FILE_FINALIZE = "/api/files/{file_id}/finalize"

# Server: shares and links
FILE_SHARES = "/api/files/{file_id}/shares"
FILE_SHARE = "/api/files/{file_id}/shares/{name}"
FILE_LINKS = "/api/files/{file_id}/links"
USER_PUBLIC_KEY = "/api/users/{name}/public-key"
LINKS = "/api/links"
LINK = "/api/links/{link_id}"
LINK_DOWNLOADS = "/api/links/{link_id}/downloads"
LINK_TICKETS = "/api/links/{link_id}/tickets"

# Server: administration
ADMIN_USERS = "/api/admin/users"
ADMIN_INVITATIONS = "/api/admin/invitations"
ADMIN_INVITATION = "/api/admin/invitations/{name}"
ADMIN_USER = "/api/admin/users/{name}"
ADMIN_USER_QUOTA = "/api/admin/users/{name}/quota"
ADMIN_HOLDS = "/api/admin/holds"
ADMIN_FILE_HOLD = "/api/admin/holds/files/{file_id}"
ADMIN_USER_HOLD = "/api/admin/holds/users/{name}"
ADMIN_AUDIT = "/api/admin/audit"
ADMIN_PURGES = "/api/admin/purges"
ADMIN_SHARES = "/api/admin/shares"
ADMIN_SHARE = "/api/admin/shares/{file_id}/{name}"
ADMIN_LINKS = "/api/admin/links"
ADMIN_LINK = "/api/admin/links/{link_id}"
ADMIN_SWEEP = "/api/admin/lifecycle/sweep"
ADMIN_APPLY = "/api/admin/apply"
ADMIN_SHARDS = "/api/admin/shards"
ADMIN_CLUSTERS = "/api/admin/clusters"
ADMIN_CLUSTER_CONFIG = "/api/admin/clusters/{name}/config"
ADMIN_CLUSTER_ROTATE = "/api/admin/clusters/{name}/rotate"
ADMIN_SYNC = "/api/admin/sync"
ADMIN_VERIFY = "/api/admin/verify/{name}"
ADMIN_FILESERVERS = "/api/admin/fileservers"
ADMIN_FILESERVER_FORGET = "/api/admin/fileservers/{fileserver_id}/forget"

# Fileserver
CHUNKS_PREFIX = "/api/chunks/"
CHUNK = "/api/chunks/{shard}/{file_id}/{chunk_hash}"
NUDGE = "/api/nudge"


def session(session_id: str) -> str:
    return SESSION.format(session_id=session_id)


def shard_fileservers(shard: str) -> str:
    return SHARD_FILESERVERS.format(shard=shard)


def file(file_id: str) -> str:
    return FILE.format(file_id=file_id)


def file_tickets(file_id: str) -> str:
    return FILE_TICKETS.format(file_id=file_id)


def file_finalize(file_id: str) -> str:
    return FILE_FINALIZE.format(file_id=file_id)


def file_shares(file_id: str) -> str:
    return FILE_SHARES.format(file_id=file_id)


def file_share(file_id: str, name: str) -> str:
    return FILE_SHARE.format(file_id=file_id, name=name)


def file_links(file_id: str) -> str:
    return FILE_LINKS.format(file_id=file_id)


def user_public_key(name: str) -> str:
    return USER_PUBLIC_KEY.format(name=name)


def link(link_id: str) -> str:
    return LINK.format(link_id=link_id)


def link_downloads(link_id: str) -> str:
    return LINK_DOWNLOADS.format(link_id=link_id)


def link_tickets(link_id: str) -> str:
    return LINK_TICKETS.format(link_id=link_id)


def admin_user(name: str) -> str:
    return ADMIN_USER.format(name=name)


def admin_invitation(name: str) -> str:
    return ADMIN_INVITATION.format(name=name)


def admin_user_quota(name: str) -> str:
    return ADMIN_USER_QUOTA.format(name=name)


def admin_file_hold(file_id: str) -> str:
    return ADMIN_FILE_HOLD.format(file_id=file_id)


def admin_user_hold(name: str) -> str:
    return ADMIN_USER_HOLD.format(name=name)


def admin_share(file_id: str, name: str) -> str:
    return ADMIN_SHARE.format(file_id=file_id, name=name)


def admin_link(link_id: str) -> str:
    return ADMIN_LINK.format(link_id=link_id)


def admin_fileserver_forget(fileserver_id: str) -> str:
    return ADMIN_FILESERVER_FORGET.format(fileserver_id=fileserver_id)


def admin_cluster_config(name: str) -> str:
    return ADMIN_CLUSTER_CONFIG.format(name=name)


def admin_verify(shard: str) -> str:
    return ADMIN_VERIFY.format(name=shard)


def admin_cluster_rotate(name: str) -> str:
    return ADMIN_CLUSTER_ROTATE.format(name=name)


def chunk(shard: str, file_id: str, chunk_hash: str) -> str:
    return CHUNK.format(shard=shard, file_id=file_id, chunk_hash=chunk_hash)
