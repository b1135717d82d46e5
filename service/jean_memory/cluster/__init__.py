"""Cluster mode: replicas over one PostgreSQL, their commits, coherence and expiry."""
