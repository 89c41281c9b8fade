"""A standalone fileserver: stores and serves encrypted chunks for the shards of its cluster."""
