"""Where the server's facts live: the database wrapper (SQLite or PostgreSQL) and its migrations."""
