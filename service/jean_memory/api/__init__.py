"""The HTTP API: thin handlers, request/response models, error mapping."""
