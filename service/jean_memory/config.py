"""The one Settings object: the only code in the service that reads the environment.

Every field is a `JM_*` variable; the reference table `docs/reference/settings.md` is generated from the
field descriptions here (`scripts/generate`), so the documentation cannot drift from the code.

Secrets (API keys, the store URL and its password, the pseudonym key, the admin token) are `SecretStr`: their
repr and str are `**********`, and a validation error never quotes what was given (`hide_input_in_errors`),
so a start with a bad setting cannot print a key. Their values are read (`get_secret_value()`) only where
they are used: the guard's comparison, the store's connection, the HMAC.
"""

from __future__ import annotations

import re
import stat
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_TENANT = re.compile(r"[A-Za-z0-9._-]{1,64}")

#: The shortest API key accepted: 32 characters (e.g. `openssl rand -hex 16`, 128 bits), so a key cannot be
#: guessed by trying, whatever the attacker's rate.
MIN_API_KEY_CHARS = 32


class EmbedderKind(StrEnum):
    """Which embedding backend turns text into vectors."""

    MINILM = "minilm"
    HASH = "hash"


class EmbeddingBackend(StrEnum):
    """What runs the `minilm` model: torch, or ONNX Runtime in fp32 (same vectors) or int8 (faster)."""

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


class IndexKind(StrEnum):
    """FAISS index type for a user's vectors in the short-term tier."""

    AUTO = "auto"
    FLAT = "flat"
    HNSW = "hnsw"
    SQ8 = "sq8"


class TelemetryMode(StrEnum):
    """How requests are instrumented: `lean` (ours), `off`, or `stock` (OTel's FastAPI instrumentation,
    kept only so the overhead benchmark can compare against it)."""

    LEAN = "lean"
    OFF = "off"
    STOCK = "stock"


class JournalSync(StrEnum):
    """SQLite `synchronous` level of the journal: what an acknowledgement survives."""

    NORMAL = "normal"  # survives a process crash (kill -9); WAL fsyncs at checkpoints
    FULL = "full"  # also survives power loss: one fsync per group commit


class StartupCheck(StrEnum):
    """How the journal and the embedded store are checked before the service starts on them."""

    QUICK = "quick"  # PRAGMA quick_check: every page readable, b-trees well formed (seconds per GB)
    FULL = "full"  # PRAGMA integrity_check: also every index against its table (slower)
    OFF = "off"  # only opened (a file that is not SQLite still stops the start)


class Settings(BaseSettings):
    """Service settings, read from `JM_*` environment variables and validated at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="JM_", extra="ignore", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8766, ge=1, le=65535, description="HTTP port.")
    data_dir: Path = Field(Path("./data"), description="Folder for the journal and the embedded long-term store.")
    embedder: EmbedderKind = Field(
        EmbedderKind.MINILM, description="`minilm` (semantic, 384-d) or `hash` (lexical, no model)."
    )
    embedding_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="sentence-transformers model name for `minilm`; the bundled offline copy is used when it matches.",
    )
    embedding_dim: int = Field(384, ge=8, le=4096, description="Vector size of the `hash` embedder.")
    embed_batch_size: int = Field(64, ge=1, le=1024, description="Largest embedding micro-batch.")
    embed_max_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="How long the embedder waits to fill a micro-batch."
    )
    embed_max_backlog: int = Field(
        2000,
        ge=1,
        description="Memories waiting for an embedding before adds are refused with 429.",
    )
    embedding_backend: EmbeddingBackend = Field(
        EmbeddingBackend.ONNX,
        description="Runtime of the `minilm` model: `onnx` (ONNX Runtime, the same vectors as torch, about 2x "
        "faster here), `onnx-int8` (about 4.5x, slightly different vectors, so its own model id) or `torch`.",
    )
    model_cache: Path = Field(
        Path("~/.cache/jean-memory"),
        description="Where the ONNX export of the model is kept (made on first start, two seconds).",
    )
    embed_subprocess: bool = Field(
        True,
        description="Run the `minilm` model in a child process (no GIL contention with the event loop); "
        "false runs it on a thread of the service.",
    )
    torch_threads: int = Field(
        1,
        ge=0,
        le=64,
        description="Model threads (torch or ONNX Runtime intra-op; 0: all cores). 1 leaves a core to the event loop.",
    )
    ltm_url: SecretStr = Field(
        SecretStr(""),
        description="Long-term store: `sqlite:///path`, `postgresql://...` or `http(s)://host:port` "
        "(another instance of this service). Empty: `sqlite:///<data_dir>/ltm.db`. Secret (never shown); keep "
        "the password out of it with `JM_LTM_PASSWORD_FILE`.",
    )
    ltm_password_file: Path | None = Field(
        None,
        description="A file holding the PostgreSQL password (a trailing newline is ignored), put into "
        "`JM_LTM_URL` when connecting, so that no environment variable carries it (compose: a secret).",
    )
    cluster: bool = Field(
        False,
        description="Cluster mode: several replicas share one PostgreSQL store of record (`JM_LTM_URL`); a write is "
        "acknowledged once committed there, and any replica serves any user.",
    )
    replica_id: str = Field(
        "",
        max_length=128,
        description="This replica's name in cluster mode (embedding claims, logs); empty: `<hostname>:<port>`.",
    )
    cluster_lease_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="Cluster mode: how long a replica's claim on a memory's embedding lasts; a dead replica's claims "
        "are taken over by a live one after it.",
    )
    cluster_commit_max: int = Field(
        512, ge=1, le=10000, description="Cluster mode: most write operations in one group commit."
    )
    cluster_max_pending: int = Field(
        4096,
        ge=1,
        description="Cluster mode: write operations waiting for a group commit before adds get 503.",
    )
    cluster_tombstone_retention_s: float = Field(
        3600.0,
        gt=0,
        description="Cluster mode: how long deleted memories stay as tombstones, so replicas catch up incrementally.",
    )
    drain_s: float = Field(
        0.0,
        ge=0,
        le=300,
        description="On SIGTERM: seconds spent not ready but still serving (a load balancer moves traffic away), "
        "before in-flight requests are finished and the process exits.",
    )
    ltm_api_key: SecretStr = Field(SecretStr(""), description="Bearer key sent to an `http` long-term store.")
    ltm_timeout_s: float = Field(5.0, gt=0, le=120, description="Timeout of one long-term store call.")
    ltm_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL / HTTP connection pool size.")
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys, each at least 32 characters; when set every `/v1` call needs "
        "`Authorization: Bearer`. An entry `key:tenant` binds the key to a tenant (letters, digits, `.`, `_`, "
        "`-`): the same user id under two tenants is two users. A key without a tenant belongs to the default "
        "tenant. Prefer `JM_API_KEYS_FILE`: a variable shows in `docker inspect` and `/proc`.",
    )
    api_keys_file: Path | None = Field(
        None,
        description="A file of API keys read at start, one `key` or `key:tenant` per line (`#` comments), for "
        "secrets managers and compose secrets; its keys count besides `JM_API_KEYS`. A file other users may read "
        "is warned about at start.",
    )
    dedup_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description='Cosine similarity from which an add that asks for deduplication (`"dedupe": true`) is a '
        "near-duplicate of an existing memory and creates nothing.",
    )
    expiry_sweep_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="How often expired memories are removed from every tier and the store (reads never return "
        "them from the moment they expire).",
    )
    max_content_bytes: int = Field(32768, ge=1, description="Largest memory content, in UTF-8 bytes.")
    max_metadata_bytes: int = Field(8192, ge=2, description="Largest metadata object, as JSON bytes.")
    max_batch_items: int = Field(1000, ge=1, le=10000, description="Most items in one batch add.")
    max_query_chars: int = Field(
        4096,
        ge=1,
        description="Longest search query, in characters (422 naming `query`). The model reads only the first "
        "few hundred tokens; a longer query would cost memory and time, not precision.",
    )
    max_filter_keys: int = Field(
        32, ge=1, description="Most keys in one object of a `filters` (422); each is matched against every candidate."
    )
    max_filter_depth: int = Field(
        8,
        ge=1,
        le=64,
        description="Deepest nesting of one `filters` object (its `$and`/`$or`/`$not` and operator objects, the "
        "top level being 1); deeper is a 422 naming the clause.",
    )
    max_filter_clauses: int = Field(
        256,
        ge=1,
        description="Most clauses in one `filters` (each comparison and each `$in`/`$nin` element counts; so many "
        "filters at most in one `$and`/`$or`), 422 past it: each is evaluated against every candidate memory.",
    )
    max_key_chars: int = Field(
        256,
        ge=1,
        description="Longest top-level metadata key and filter key, in characters (422 naming the field). A "
        "string filter value may be as long as JM_MAX_METADATA_BYTES; a longer one could never match.",
    )
    max_body_bytes: int = Field(
        0,
        ge=0,
        description="Largest request body of a batch add, in bytes, counted while it streams in (413 past it; a "
        "larger declared Content-Length is refused unread). 0: JM_MAX_BATCH_ITEMS x (JM_MAX_CONTENT_BYTES + "
        "JM_MAX_METADATA_BYTES + 256) + 64 KiB, a maximal batch of compact JSON (41.3 MB with the defaults). Every "
        "other route takes at most 6 x (JM_MAX_CONTENT_BYTES + JM_MAX_METADATA_BYTES) + 64 KiB, what the most "
        "escaped valid item needs.",
    )
    body_buffer_bytes: int = Field(
        0,
        ge=0,
        description="Request body bytes all requests together may hold while bodies are received; a body that "
        "would pass it gets 503 with Retry-After. 0: the larger of 64 MiB and the batch body limit.",
    )
    body_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A request body that stops arriving for this long is cut with 408; so is one arriving slower "
        "than JM_BODY_MIN_RATE_BYTES per second once this long has passed.",
    )
    body_min_rate_bytes: int = Field(
        4096, ge=1, description="Slowest average rate, in bytes per second, at which a request body may arrive."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A connection must deliver a whole request head (request line and headers) within this many "
        "seconds of opening or of its first byte; otherwise it is closed (408 when part of a head came).",
    )
    max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request head (request line and headers), in bytes (431 past it)."
    )
    max_header_count: int = Field(100, ge=8, description="Most header fields in one request (431 past it).")
    max_url_bytes: int = Field(8192, ge=256, description="Longest request target, path and query, in bytes (414).")
    keep_alive_timeout_s: int = Field(
        5, ge=1, le=3600, description="An idle keep-alive connection is closed after this many seconds."
    )
    max_connections: int = Field(
        2048,
        ge=1,
        description="Open HTTP connections; one more is answered 503 (with Retry-After) and closed at once.",
    )
    backlog: int = Field(2048, ge=1, description="Listen backlog: connections the kernel queues before accept.")
    disk_full_retry_after_s: int = Field(
        30, ge=1, le=3600, description="Retry-After sent with 507 when the journal's disk is full."
    )
    startup_check: StartupCheck = Field(
        StartupCheck.QUICK,
        description="Check of the journal and the embedded store before start: `quick` (PRAGMA quick_check), "
        "`full` (integrity_check) or `off`; a damaged file stops the start with a message naming it.",
    )
    startup_check_sync_bytes: int = Field(
        256 * 2**20,
        ge=0,
        description="A store larger than this is not checked page by page before the start (a million memories "
        "are 2.4 GB: minutes from a cold disk): its header, schema and length are, and the `startup_check` runs "
        "in the background once the service is up; damage found then makes `/readyz` answer 503 and sets "
        "`jm_data_file_damaged`. The journal is always checked before the start.",
    )
    stm_index: IndexKind = Field(
        IndexKind.AUTO,
        description="`flat` (exact), `hnsw`, `sq8`, or `auto`: exact until a user has "
        "`stm_large_user_vectors` vectors, then `stm_large_index`.",
    )
    stm_large_index: IndexKind = Field(
        IndexKind.SQ8, description="Index used by `auto` for large users: `hnsw` or `sq8`."
    )
    stm_large_user_vectors: int = Field(
        20000, ge=16, description="Vectors at which `auto` switches a user to the large index."
    )
    stm_budget_bytes: int = Field(
        512 * 1024 * 1024, ge=1 << 20, description="RAM budget of the short-term tier, in bytes."
    )
    stm_partial_user_vectors: int = Field(
        20000,
        ge=0,
        description="Users with at least this many memories in the SQLite store are partially resident: vectors "
        "searched from a memory-mapped SQ8 snapshot, records read on demand (0: every user is loaded whole).",
    )
    stm_snapshot_ivf_vectors: int = Field(
        100_000,
        ge=0,
        description="A partially resident user's snapshot of at least this many vectors is an inverted file over "
        "its SQ8 codes (IVF-SQ8): a search probes a share of its lists instead of scanning every vector "
        "(a million vectors: search p50 50 ms flat, 10 ms probed). 0: always a flat scan.",
    )
    stm_snapshot_probe_ratio: float = Field(
        0.15,
        gt=0,
        le=1,
        description="Share of an IVF snapshot's lists a search probes: recall against time (a million hash-embedder "
        "vectors in 1,024 lists: 0.15 recalled 0.987 of the exact top 10).",
    )
    stm_warm_users: int = Field(
        1000, ge=0, description="Most recently active users promoted into the short-term tier at start-up."
    )
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree.")
    hnsw_ef_search: int = Field(128, ge=8, le=4096, description="HNSW search breadth.")
    result_cache_size: int = Field(10000, ge=0, description="L1 cache: entries of recent search results (0 disables).")
    embedding_cache_size: int = Field(50000, ge=0, description="L2 cache: entries of query embeddings (0 disables).")
    result_cache_bytes: int = Field(
        32 << 20,
        ge=1 << 16,
        description="L1 cache: most bytes of search results held (estimated: the hits' content and metadata).",
    )
    embedding_cache_bytes: int = Field(
        64 << 20, ge=1 << 16, description="L2 cache: most bytes of query embeddings held (vectors and keys)."
    )
    bloom_capacity: int = Field(
        2_000_000, ge=1000, description="Ids the Bloom filter is sized for at a 1 % false-positive rate."
    )
    journal_sync: JournalSync = Field(
        JournalSync.NORMAL,
        description="`normal`: an acknowledged add survives kill -9; `full`: it also survives power loss.",
    )
    journal_inline_commit: bool = Field(
        True,
        description="Commit an add on the event loop when the journal's thread has nothing queued (with `normal` "
        "sync: no fsync, tens of microseconds) instead of two thread hand-offs; under load adds still share group "
        "commits on the journal's thread.",
    )
    journal_max_pending: int = Field(
        1_000_000, ge=1, description="Journal rows not yet in the long-term store before adds get 503."
    )
    shuttle_batch_size: int = Field(500, ge=1, le=10000, description="Most journal rows per LTM write.")
    shuttle_max_wait_ms: float = Field(50.0, ge=0, description="How long the shuttle waits to fill a batch.")
    shuttle_embed_wait_s: float = Field(
        30.0,
        ge=0,
        description="How long the shuttle holds a memory back waiting for its vector before shipping it without one.",
    )
    shuttle_backoff_initial_s: float = Field(0.1, gt=0, description="First retry delay after an LTM failure.")
    shuttle_backoff_max_s: float = Field(10.0, gt=0, description="Longest retry delay.")
    shutdown_drain_s: float = Field(
        5.0, ge=0, le=300, description="On shutdown, how long the shuttle keeps shipping the journal to the store."
    )
    max_inflight_writes: int = Field(256, ge=1, description="Concurrent add/delete requests before new ones get 503.")
    max_inflight_reads: int = Field(
        512, ge=1, description="Concurrent get/list/search requests before new ones get 503."
    )
    retry_after_s: int = Field(1, ge=1, le=3600, description="Retry-After sent with 429 and 503.")
    tenant_rate_limit: str = Field(
        "1000/second",
        description="Requests one tenant may make to `/v1`, in the `limits` library's notation (`100/second`, "
        "`5000/minute`; a sliding window per tenant); past it a request gets 429 naming `tenant`, with Retry-After. "
        "Empty: no rate limit. Applies, with `JM_TENANT_INFLIGHT_SHARE`, when the API keys name two or more "
        "tenants (keys without a tenant are the default tenant).",
    )
    tenant_inflight_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The share of each operation's admission slots (`JM_MAX_INFLIGHT_READS`, "
        "`JM_MAX_INFLIGHT_WRITES`) one tenant may hold at once, so one tenant's flood leaves the others room; "
        "past it a request gets 429 naming `tenant`. Applies when the API keys name two or more tenants.",
    )
    tenant_metrics_max: int = Field(
        20,
        ge=0,
        le=1000,
        description="Tenants named in the `tenant` label of the `jm_tenant_*` metrics (the first, sorted by name); "
        "the rest share the label `other`, so the series stay bounded however many tenants the keys name.",
    )
    docs: bool = Field(
        True,
        description="Serve the API's pages, `/docs` (Swagger UI) and `/redoc`, with their assets from this "
        "process (no CDN: they work offline); false removes them. `/openapi.json` stays.",
    )
    mcp_single_exchange: bool = Field(
        True,
        description="Serve a plain stateless MCP request of either protocol era (`tools/call`, `tools/list`, "
        "`ping`) as one exchange through the SDK's runner, without the SDK's per-request transport and task (the "
        "same answer, a fraction of the cost); false hands every `/mcp` request to the SDK's session manager.",
    )
    golden_set: Path | None = Field(
        None,
        description="Golden set (NDJSON: `user_id`, `query`, `expected_ids`, optional `tenant`), replayed every "
        "`JM_GOLDEN_INTERVAL_S` through the search use case: its recall is the recall SLI (docs/golden-set.md). "
        "Checked at start-up: a bad line stops the start, named. Unset: no replay.",
    )
    golden_interval_s: float = Field(60.0, ge=1, le=86400, description="Seconds between two replays of the golden set.")
    golden_k: int = Field(
        10, ge=1, le=100, description="How many results a golden search looks at: recall@k (a line's ids at most k)."
    )
    faults_enabled: bool = Field(
        False, description="Fire drills only: expose `/admin/faults` (also needs `JM_ADMIN_TOKEN`)."
    )
    admin_token: SecretStr = Field(
        SecretStr(""), description="Bearer token of the admin routes; at least 16 characters."
    )
    gc_freeze_interval_s: float = Field(
        1.0,
        ge=0,
        description="Move long-lived objects out of the garbage collector's full collections this often "
        "(`gc.freeze`; 0 keeps CPython's default behaviour).",
    )
    gc_full_collect_interval_s: float = Field(
        600.0,
        ge=0,
        description="Run one full collection over the frozen objects this often, reclaiming cyclic garbage (0: never).",
    )
    gc_young_threshold: int = Field(
        500,
        ge=100,
        le=100_000,
        description="Allocations between two collections of the youngest generation (`gc.set_threshold`'s first; "
        "CPython's default is 700). Applies with the freeze policy on.",
    )
    gc_middle_ratio: int = Field(
        3,
        ge=1,
        le=100,
        description="Young collections between two collections of the middle generation, whose pause grows with it "
        "(`gc.set_threshold`'s second; CPython's default is 10). Applies with the freeze policy on.",
    )
    gil_switch_interval_ms: float = Field(
        5.0,
        gt=0,
        le=100,
        description="How long another thread may run Python code before the event loop's thread gets the "
        "interpreter back (`sys.setswitchinterval`; CPython's default is 5 ms).",
    )
    slow_callback_ms: float = Field(
        0.0,
        ge=0,
        description="Above 0, every event-loop callback is timed (CPU and wall) on asyncio's own loop instead of "
        "uvloop, each one slower than this is logged, and `/debug/loop-holds` serves the longest per operation "
        "(development, tests and benchmarks).",
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: str = Field("json", pattern="^(json|text)$", description="`json` (one object per line) or `text`.")
    telemetry: TelemetryMode = Field(
        TelemetryMode.LEAN, description="`lean` (metrics, traces, exemplars), `off`, or `stock` (benchmark only)."
    )
    trace_sample_ratio: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Share of requests traced; a caller's `traceparent` is continued, but its sampled flag is "
        "obeyed only with `JM_TRACE_TRUST_PARENT`. 1.0 where a collector tail-samples (compose): the decision is "
        "then the collector's.",
    )
    trace_trust_parent: bool = Field(
        False,
        description="Follow the sampled flag of a caller's `traceparent` (set where every caller is yours, e.g. "
        "behind your own gateway); false: any client could have every request traced and exported.",
    )
    slow_op_ms: float = Field(50.0, ge=0, description="Operations slower than this write the performance log line.")
    pseudonym_key: SecretStr = Field(
        SecretStr(""),
        description="Key of the HMAC that pseudonymises user ids in logs (random per process when empty).",
    )
    dashboard_window_s: float = Field(60.0, gt=0, le=3600, description="Sliding window of /metrics/dashboard.")
    otel_service_name: str = Field(
        "jean-memory",
        validation_alias="OTEL_SERVICE_NAME",
        description="`OTEL_SERVICE_NAME`: the resource's service.name, and the Prometheus `job` over OTLP.",
    )
    otlp_endpoint: str = Field(
        "",
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="`OTEL_EXPORTER_OTLP_ENDPOINT`: OTLP/HTTP base URL for traces, metrics and logs; empty: no export.",
    )
    otlp_traces_endpoint: str = Field(
        "",
        validation_alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        description="`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: full URL for traces only (overrides the base URL).",
    )
    otlp_metrics_endpoint: str = Field(
        "",
        validation_alias="OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        description="`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: full URL for metrics only, e.g. Prometheus's "
        "`/api/v1/otlp/v1/metrics`.",
    )
    otlp_metrics: bool = Field(
        True, description="Export metrics over OTLP when an endpoint is set (false: traces only, metrics by scrape)."
    )
    otlp_logs_endpoint: str = Field(
        "",
        validation_alias="OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        description="`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`: full URL for logs only (overrides the base URL).",
    )
    otlp_logs: bool = Field(
        True,
        description="Export logs over OTLP (the SDK's logs bridge, beside the stderr lines) when an endpoint is set.",
    )
    metric_export_interval_ms: int = Field(
        60000,
        ge=100,
        validation_alias="OTEL_METRIC_EXPORT_INTERVAL",
        description="`OTEL_METRIC_EXPORT_INTERVAL`: milliseconds between OTLP metric exports.",
    )

    @field_validator("model_cache")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def tenant_keys(self) -> dict[str, str]:
        """Every API key and the tenant it acts for ("" for the default tenant). Errors name where the entry
        is (which variable, which line), never the entry."""
        entries = [(f"JM_API_KEYS entry {i}", e.strip()) for i, e in enumerate(self._key_entries(), 1)]
        if self.api_keys_file is not None:
            lines = self.api_keys_file.read_text().splitlines()
            entries += [
                (f"JM_API_KEYS_FILE line {i}", line.strip())
                for i, line in enumerate(lines, 1)
                if line.strip() and not line.strip().startswith("#")
            ]
        keys: dict[str, str] = {}
        for where, entry in entries:
            key, _, tenant = entry.partition(":")
            if not key or any(c.isspace() for c in key) or (tenant and not _TENANT.fullmatch(tenant)):
                raise ValueError(f"{where}: an API key entry is malformed (want `key` or `key:tenant`; not shown)")
            if len(key) < MIN_API_KEY_CHARS:
                raise ValueError(
                    f"{where}: an API key is shorter than {MIN_API_KEY_CHARS} characters (not shown); make one "
                    "with `openssl rand -hex 16`"
                )
            keys[key] = tenant
        return keys

    def _key_entries(self) -> list[str]:
        return [e for e in self.api_keys.get_secret_value().split(",") if e.strip()]

    @property
    def auth_enabled(self) -> bool:
        """Whether `/v1` needs a key: some key is configured, in the variable or the file."""
        return bool(self.tenant_keys)

    def start_warnings(self) -> list[str]:
        """What the start logs as warnings: settings that work but expose something."""
        warnings = []
        if self.api_keys_file is not None:
            mode = stat.S_IMODE(self.api_keys_file.stat().st_mode)
            if mode & 0o077:
                warnings.append(
                    f"JM_API_KEYS_FILE {self.api_keys_file} may be read by other users (mode {mode:04o}): "
                    f"chmod 600 it, or keep it in a folder only this user can enter"
                )
        if self._key_entries():
            warnings.append(
                "JM_API_KEYS holds keys in the environment (shown by `docker inspect`, /proc): prefer JM_API_KEYS_FILE"
            )
        return warnings

    @model_validator(mode="after")
    def _check_keys(self) -> Settings:
        if self.api_keys_file is not None and not self.api_keys_file.is_file():
            raise ValueError(f"JM_API_KEYS_FILE: {self.api_keys_file} is not a readable file")
        self.tenant_keys  # noqa: B018 - validates every entry at start-up, failing loudly
        return self

    @model_validator(mode="after")
    def _check_ltm_password(self) -> Settings:
        if self.ltm_password_file is not None:
            if not self.ltm_password_file.is_file():
                raise ValueError(f"JM_LTM_PASSWORD_FILE: {self.ltm_password_file} is not a readable file")
            if self.ltm_scheme not in ("postgres", "postgresql"):
                raise ValueError("JM_LTM_PASSWORD_FILE needs JM_LTM_URL to name a PostgreSQL store")
            if urlsplit(self.ltm_url.get_secret_value()).password is not None:
                raise ValueError("JM_LTM_URL holds a password and JM_LTM_PASSWORD_FILE is set: keep only the file")
        return self

    @field_validator("tenant_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError("want a rate such as `100/second` or `5000/minute`, or empty for none") from None
        return value

    @model_validator(mode="after")
    def _check_tenants_store(self) -> Settings:
        if any(self.tenant_keys.values()) and self.ltm_scheme in ("http", "https"):
            raise ValueError(
                "tenant-scoped API keys need a SQLite or PostgreSQL store: an `http` store is one tenant of the "
                "remote service (JM_LTM_API_KEY), so tenants' users would meet there"
            )
        return self

    @model_validator(mode="after")
    def _check_golden_set(self) -> Settings:
        if self.golden_set is not None:
            from jean_memory.goldenset import GoldenSetError, load  # read again by the replay, at its start

            try:
                load(self.golden_set, self.golden_k, self.max_query_chars, set(self.tenant_keys.values()))
            except GoldenSetError as exc:
                raise ValueError(f"JM_GOLDEN_SET: {exc}") from None
        return self

    @model_validator(mode="after")
    def _check_faults(self) -> Settings:
        if self.faults_enabled and len(self.admin_token.get_secret_value()) < 16:
            raise ValueError("JM_FAULTS_ENABLED needs JM_ADMIN_TOKEN of at least 16 characters")
        return self

    @model_validator(mode="after")
    def _check_cluster(self) -> Settings:
        if self.cluster and self.ltm_scheme not in ("postgres", "postgresql"):
            raise ValueError("JM_CLUSTER needs JM_LTM_URL to name a PostgreSQL store (postgresql://...)")
        return self

    @model_validator(mode="after")
    def _check_body_buffer(self) -> Settings:
        if self.body_buffer_limit < self.body_limit:
            raise ValueError("JM_BODY_BUFFER_BYTES must be at least the batch body limit (JM_MAX_BODY_BYTES)")
        return self

    @model_validator(mode="after")
    def _check_large_index(self) -> Settings:
        if self.stm_large_index not in (IndexKind.HNSW, IndexKind.SQ8, IndexKind.FLAT):
            raise ValueError("JM_STM_LARGE_INDEX must be flat, hnsw or sq8")
        return self

    @property
    def effective_ltm_url(self) -> str:
        """The long-term store URL, defaulting to an SQLite file in the data folder, with the password of
        `JM_LTM_PASSWORD_FILE` in it: a secret, only for connecting (`ltm_url_shown` is for messages)."""
        url = self.ltm_url.get_secret_value()
        if not url:
            return f"sqlite:///{(self.data_dir / 'ltm.db').resolve()}"
        if self.ltm_password_file is None:
            return url
        password = self.ltm_password_file.read_text().rstrip("\r\n")
        parts = urlsplit(url)
        user, _, hosts = parts.netloc.rpartition("@")  # several hosts (`h1:5432,h2:5432`) are one netloc
        netloc = f"{quote(user.partition(':')[0], safe='')}:{quote(password, safe='')}@{hosts}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def ltm_scheme(self) -> str:
        """The long-term store's kind: `sqlite`, `postgresql`, `http`... (not secret)."""
        url = self.ltm_url.get_secret_value()
        return urlsplit(url).scheme if url else "sqlite"

    @property
    def ltm_url_shown(self) -> str:
        """The store URL as messages may show it: any password replaced by `***`."""
        url = self.ltm_url.get_secret_value() or self.effective_ltm_url
        parts = urlsplit(url)
        if parts.password is None and self.ltm_password_file is None:
            return url
        user, _, hosts = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{hosts}"))

    @property
    def traces_endpoint(self) -> str:
        if self.otlp_traces_endpoint:
            return self.otlp_traces_endpoint
        return f"{self.otlp_endpoint.rstrip('/')}/v1/traces" if self.otlp_endpoint else ""

    @property
    def metrics_endpoint(self) -> str:
        if not self.otlp_metrics:
            return ""
        if self.otlp_metrics_endpoint:
            return self.otlp_metrics_endpoint
        return f"{self.otlp_endpoint.rstrip('/')}/v1/metrics" if self.otlp_endpoint else ""

    @property
    def logs_endpoint(self) -> str:
        if not self.otlp_logs:
            return ""
        if self.otlp_logs_endpoint:
            return self.otlp_logs_endpoint
        return f"{self.otlp_endpoint.rstrip('/')}/v1/logs" if self.otlp_endpoint else ""

    @property
    def log_secrets(self) -> list[str]:
        """Every secret a log message could quote: masked in what leaves the process over OTLP."""
        keys = [self.ltm_api_key, self.admin_token, self.pseudonym_key]
        secrets = [k.get_secret_value() for k in keys]
        if self.ltm_url.get_secret_value():
            secrets.append(urlsplit(self.ltm_url.get_secret_value()).password or "")
        return [s for s in (*secrets, *self.tenant_keys) if s]

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.db"

    @property
    def body_limit(self) -> int:
        """Largest request body of a batch add (`JM_MAX_BODY_BYTES`, or derived from the item limits)."""
        items = self.max_batch_items * (self.max_content_bytes + self.max_metadata_bytes + 256)
        return self.max_body_bytes or items + 65536

    @property
    def item_body_limit(self) -> int:
        """Largest request body of every other route: one item, however escaped, never above `body_limit`."""
        return min(self.body_limit, 6 * (self.max_content_bytes + self.max_metadata_bytes) + 65536)

    @property
    def body_buffer_limit(self) -> int:
        """Request body bytes all requests may hold at once (`JM_BODY_BUFFER_BYTES`, or derived)."""
        return self.body_buffer_bytes or max(64 << 20, self.body_limit)
