"""The use cases both modes share: writes, reads, history, expiry, admission and the vector index."""
