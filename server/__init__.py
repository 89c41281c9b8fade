"""The central server: users, shards, clusters, fileservers, file records and tickets."""
