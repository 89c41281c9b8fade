"""Background work on what the fileserver stores: purging, scrubbing, flushing a write-back cache."""
