"""The server's domain logic: accounts, files, tickets, sharing, links, quotas, holds, topology, the registry.

Functions take parsed values (protocol models where the request has one) and the
database; none of them knows HTTP.
"""
