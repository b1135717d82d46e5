"""Logs over OTLP: the same records the JSON lines carry, through the OpenTelemetry SDK's logs bridge.

A `logging.Handler` hands each record to the SDK's `LoggerProvider` (one SDK logger per Python logger,
as the SDK's own `LoggingHandler` does; that handler is deprecated in this SDK release and copies every
`extra` and the exception's message, which may quote a client's input). The SDK reads the trace and
span ids from the current context, so a record logged inside a request carries its trace's ids whether
or not the trace was sampled. The batch processor's queue is bounded: with the collector down, records
are dropped and counted (`jm_telemetry_dropped_logs_total`), the logging call never waits on the
network, and memory stays flat.

What leaves the process: the message (secrets scrubbed, `scrub`), the severity, the logger's name as
the scope, the structured fields given as `extra` whose values are scalars and whose names do not
name a secret or a memory's content, and for an exception its type and stack (not its message).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from jean_memory import __version__
from jean_memory.telemetry.metrics import PipelineMetrics

LOG_QUEUE = 2048
#: Python's own record attributes: not structured fields.
_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: A structured field whose name says secret or content never leaves the process, whatever its value.
_FORBIDDEN = re.compile(r"(?i)(authorization|api[_-]?key|token|password|secret|cookie|content|text|query)")
#: `Bearer x`, `authorization: x`, `api_key=x`, `token=x`, `password=x` in a message: the value masked.
_SECRET = re.compile(r"(?i)\b(bearer\s+|(?:authorization|api[_-]?key|token|password)\s*[:=]\s*)[^\s,;]+")
#: Loggers whose records are not exported: the exporter's own (a failed export would log, be exported,
#: fail and log again), and the HTTP client it uses.
_SKIPPED = ("opentelemetry", "urllib3", "requests")
_SEVERITY = {
    logging.DEBUG: (SeverityNumber.DEBUG, "DEBUG"),
    logging.INFO: (SeverityNumber.INFO, "INFO"),
    logging.WARNING: (SeverityNumber.WARN, "WARN"),
    logging.ERROR: (SeverityNumber.ERROR, "ERROR"),
    logging.CRITICAL: (SeverityNumber.FATAL, "FATAL"),
}


def severity(levelno: int) -> tuple[SeverityNumber, str]:
    """OTel's severity for a Python level: the named levels exactly, others by the level below them."""
    for level in sorted(_SEVERITY, reverse=True):
        if levelno >= level:
            return _SEVERITY[level]
    return SeverityNumber.TRACE, "TRACE"


class Scrubber:
    """Masks secrets in a message: the service's own keys and tokens verbatim, and anything that looks
    like a credential (`Bearer ...`, `api_key=...`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return _SECRET.sub(r"\1***", text)


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's `extra` fields that may leave the process: scalar values, names not forbidden."""
    out: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _RESERVED or key.startswith("_") or _FORBIDDEN.search(key):
            continue
        if isinstance(value, (bool, int, float, str)):
            out[key] = value
    return out


class OtlpLogHandler(logging.Handler):
    """The bridge from `logging` to the SDK's logger provider."""

    def __init__(self, provider: LoggerProvider, scrub: Scrubber, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = provider
        self._scrub = scrub
        self._loggers: dict[str, Any] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SKIPPED):
            return
        try:
            logger = self._loggers.get(record.name)
            if logger is None:
                logger = self._loggers[record.name] = self._provider.get_logger(record.name, __version__)
            attributes = structured_fields(record)
            attributes["code.function.name"] = record.funcName
            if record.exc_info and record.exc_info[0] is not None:
                attributes["exception.type"] = record.exc_info[0].__name__
                # the frames, not the message: an exception's text may quote what a client sent
                attributes["exception.stacktrace"] = "".join(traceback.format_tb(record.exc_info[2]))
            number, text = severity(record.levelno)
            logger.emit(
                timestamp=int(record.created * 1e9),
                context=otel_context.get_current(),
                severity_number=number,
                severity_text=text,
                body=self._scrub(record.getMessage()),
                attributes=attributes,
            )
        except Exception:
            self.handleError(record)


class CountingLogExporter(LogRecordExporter):
    """Counts export results and the records a failed export loses; the drill's fault fails every export."""

    def __init__(self, inner: LogRecordExporter, metrics: PipelineMetrics) -> None:
        self._inner = inner
        self._ok = metrics.exports.labels("logs", "success")
        self._failed = metrics.exports.labels("logs", "failure")
        self._dropped = metrics.dropped_logs
        self.blocked = False  # the fire drill's collector_unreachable fault

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            result = LogRecordExportResult.FAILURE if self.blocked else self._inner.export(batch)
        except Exception:
            result = LogRecordExportResult.FAILURE
        if result is LogRecordExportResult.SUCCESS:
            self._ok.inc()
        else:
            self._failed.inc()
            self._dropped.inc(len(batch))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class BoundedBatchLogProcessor(BatchLogRecordProcessor):
    """A BatchLogRecordProcessor that counts the records it drops when its queue is full."""

    def __init__(self, exporter: LogRecordExporter, metrics: PipelineMetrics) -> None:
        super().__init__(
            exporter,
            schedule_delay_millis=1000,
            max_export_batch_size=512,
            export_timeout_millis=5000,
            max_queue_size=LOG_QUEUE,
        )
        self._dropped = metrics.dropped_logs

    def on_emit(self, log_record: Any) -> None:
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)  # the SDK's bounded deque
        if queue is not None and len(queue) >= LOG_QUEUE:
            self._dropped.inc()
        super().on_emit(log_record)


class OtlpLogs:
    """The logs pipeline of one process: provider, bounded batch processor, counting exporter, handler."""

    def __init__(
        self, resource: Resource, exporter: LogRecordExporter, metrics: PipelineMetrics, scrub: Scrubber
    ) -> None:
        self.exporter = CountingLogExporter(exporter, metrics)
        self.provider = LoggerProvider(resource=resource)
        self.provider.add_log_record_processor(BoundedBatchLogProcessor(self.exporter, metrics))
        self.handler = OtlpLogHandler(self.provider, scrub)

    def install(self) -> None:
        """Attach the handler to the root logger, beside the stderr handler, at the root's level."""
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)

    def shutdown(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.provider.shutdown()
