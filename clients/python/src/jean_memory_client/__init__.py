"""Python client for Jean Memory V3: `JeanMemory` (blocking) and `AsyncJeanMemory` (asyncio).

from jean_memory_client import JeanMemory

with JeanMemory("http://127.0.0.1:8766") as memory:
    memory.add("alice", "Alice is vegetarian")
    print(memory.search("alice", "what does Alice eat?").results[0].content)
"""

from jean_memory_client._async import AsyncJeanMemory
from jean_memory_client._calls import UNSET, Item
from jean_memory_client._errors import (
    APIError,
    AuthenticationError,
    BadRequest,
    Conflict,
    ExportInterrupted,
    FieldError,
    InsufficientStorage,
    JeanMemoryError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    TransportError,
    ValidationError,
)
from jean_memory_client._models import (
    BatchCreated,
    Created,
    ExportedMemory,
    History,
    Memory,
    Mode,
    NewMemory,
    Page,
    Readiness,
    SearchHit,
    SearchResults,
    Version,
)
from jean_memory_client._retry import RetryPolicy
from jean_memory_client._sync import JeanMemory
from jean_memory_client._version import VERSION

__version__ = VERSION

__all__ = [
    "UNSET",
    "APIError",
    "AsyncJeanMemory",
    "AuthenticationError",
    "BadRequest",
    "BatchCreated",
    "Conflict",
    "Created",
    "ExportInterrupted",
    "ExportedMemory",
    "FieldError",
    "History",
    "InsufficientStorage",
    "Item",
    "JeanMemory",
    "JeanMemoryError",
    "Memory",
    "Mode",
    "NewMemory",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "RateLimited",
    "Readiness",
    "RetryPolicy",
    "SearchHit",
    "SearchResults",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "ValidationError",
    "Version",
    "__version__",
]
