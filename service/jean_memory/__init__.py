"""Jean Memory V3: a durable, two-tier memory service for AI agents."""

__version__ = "3.0.0"
__all__ = ["__version__"]
