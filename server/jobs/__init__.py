"""Scheduled work: the housekeeper (APScheduler, one instance at a time by lease) and the retention sweep."""
