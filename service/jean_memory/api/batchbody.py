"""The batch add's body, decoded, parsed and validated a slice at a time.

A batch may carry `JM_MAX_BATCH_ITEMS` items of the largest content and metadata: tens of megabytes of
JSON. FastAPI would decode, parse and validate it in one callback, holding the event loop (and every
other request) for as long as that takes. Here the body (which the guard has already read whole, within
its limit) is decoded in slices, walked item by item with the standard library's own decoder
(`JSONDecoder.raw_decode`, so what is valid JSON and what each value becomes is exactly what
`json.loads` says), and each item is validated as it is reached, giving the loop back between slices
(`cooperative.Slices`). Errors have the shape FastAPI gives them: every invalid field, named.
"""

from __future__ import annotations

import codecs
import email.message
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from jean_memory.api.schemas import AddBatch, BatchHead, BatchItem
from jean_memory.cooperative import Slices
from jean_memory.errors import Invalid

#: Bytes decoded to text per slice.
DECODE_SLICE = 1 << 18
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_ITEM = TypeAdapter(BatchItem)

#: The request body's schema for the OpenAPI document (the route reads the body itself).
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AddBatch"}}},
    }
}


def openapi_components() -> dict[str, Any]:
    """`AddBatch` and the models it refers to, for the OpenAPI document's components."""
    schema = AddBatch.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = schema.pop("$defs", {})
    return {**defs, "AddBatch": schema}


@dataclass(slots=True)
class Batch:
    """A batch add's body, validated."""

    user_id: str
    items: list[BatchItem]
    dedupe: bool


def _errors(exc: ValidationError, *prefix: str | int) -> list[dict[str, Any]]:
    return [{**e, "loc": ("body", *prefix, *e["loc"])} for e in exc.errors()]


def _json_invalid(message: str, position: int = 0) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", position), "msg": "JSON decode error", "input": {},
          "ctx": {"error": message}}]
    )  # fmt: skip


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule: no Content-Type, or application/json or application/*+json."""
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class _Text:
    """The body's text as its chunks arrive, decoded a slice at a time, with a cursor; what the cursor
    has passed is let go, so neither the body's bytes nor its text is ever joined whole."""

    def __init__(self, chunks: AsyncIterator[bytes], slices: Slices) -> None:
        self._chunks = chunks
        self._slices = slices
        self._decoder: codecs.IncrementalDecoder | None = None
        self._head = b""  # the first bytes, held until the encoding can be told from them
        self._pending = memoryview(b"")
        self._received = False
        self.text = ""
        self.i = 0
        self._offset = 0  # characters let go before `text`
        self.final = False

    def error(self, message: str, at: int | None = None) -> json.JSONDecodeError:
        """A decode error at the cursor (or at `at` in `text`), its position counted from the body's start."""
        exc = json.JSONDecodeError(message, self.text, self.i if at is None else at)
        exc.pos += self._offset
        return exc

    async def _bytes(self) -> bytes | None:
        """The next slice of the body's bytes; None at its end."""
        while not self._pending:
            if self._received:
                return None
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                self._received = True
                continue
            self._pending = memoryview(chunk)
        piece, self._pending = self._pending[:DECODE_SLICE], self._pending[DECODE_SLICE:]
        return bytes(piece)

    async def more(self) -> bool:
        """Decode the next slice onto the text; False once the whole body is decoded."""
        while not self.final:
            piece = await self._bytes()
            if self._decoder is None:
                self._head += piece or b""
                if piece is not None and len(self._head) < 4:
                    continue
                self._decoder = codecs.getincrementaldecoder(json.detect_encoding(self._head))("surrogatepass")
                piece, self._head = self._head, b""
            self.final = piece is None
            decoded = self._decoder.decode(piece or b"", final=self.final)
            self._offset += self.i
            self.text = self.text[self.i :] + decoded
            self.i = 0
            await self._slices.pause()
            if decoded or self.final:
                return True
        return False

    async def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the body); the cursor moves to it."""
        while True:
            self.i = _WHITESPACE.match(self.text, self.i).end()  # type: ignore[union-attr]  # always matches
            if self.i < len(self.text):
                return self.text[self.i]
            if not await self.more():
                return ""

    async def expect(self, char: str, what: str) -> None:
        if await self.peek() != char:
            raise self.error(f"Expecting {what}")
        self.i += 1

    async def value(self) -> Any:
        """The JSON value at the cursor, as `json.loads` makes it; more of the body is decoded while the
        value may go on past the text decoded so far (the text at least doubles before each retry)."""
        await self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.i)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.text) - 6 or exc.msg.startswith("Unterminated string")
                if self.final or not cut:
                    raise self.error(exc.msg, exc.pos) from None
                await self._grow()
                continue
            if end == len(self.text) and not self.final:  # a number may go on in the next slice
                await self._grow()
                continue
            self.i = end
            return value

    async def _grow(self) -> None:
        target = 2 * (len(self.text) - self.i)
        while await self.more() and len(self.text) - self.i < target:
            pass


class _Walk:
    """The top-level object's members; `items` element by element, each validated as it is reached."""

    def __init__(self, text: _Text, max_items: int, slices: Slices) -> None:
        self.text = text
        self.max_items = max_items
        self.slices = slices
        self.head: dict[str, Any] = {}
        self.items: list[BatchItem] | None = None  # None: not an array (or absent); then `raw_items` says
        self.raw_items: Any = None
        self.has_items = False
        self.errors: list[dict[str, Any]] = []

    async def document(self) -> Any:
        """Walk the document; returns it when it is not an object (nothing streamed)."""
        text = self.text
        if await text.peek() != "{":
            value = await text.value()
            await self._end()
            return value
        text.i += 1
        if await text.peek() == "}":
            text.i += 1
            return await self._end()
        while True:
            if await text.peek() != '"':
                raise text.error("Expecting property name enclosed in double quotes")
            key = await text.value()
            await text.expect(":", "':' delimiter")
            if key == "items" and await text.peek() == "[":
                await self._items()
            else:
                value = await text.value()
                if key == "items":
                    self.has_items, self.items, self.raw_items = True, None, value
                else:
                    self.head[key] = value
            if await text.peek() == ",":
                text.i += 1
                continue
            await text.expect("}", "',' delimiter")
            return await self._end()

    async def _end(self) -> None:
        if await self.text.peek() != "":
            raise self.text.error("Extra data")

    async def _items(self) -> None:
        """The `items` array from its `[`: each element parsed, validated, and the loop given back."""
        text = self.text
        text.i += 1
        self.has_items, self.items, self.raw_items = True, [], None
        self.errors = [e for e in self.errors if e["loc"][1] != "items"]  # a repeated key: the last one counts
        if await text.peek() == "]":
            text.i += 1
            self.items, self.raw_items = None, []
            return
        index = 0
        while True:
            value = await text.value()
            if index >= self.max_items:
                raise Invalid(f"items: more than {self.max_items} items", field="items")
            try:
                self.items.append(_ITEM.validate_python(value))  # type: ignore[union-attr]
            except ValidationError as exc:
                self.errors += _errors(exc, "items", index)
            index += 1
            await self.slices.pause()
            if await text.peek() == ",":
                text.i += 1
                continue
            await text.expect("]", "',' delimiter")
            return


async def read_batch(request: Request, max_items: int) -> Batch:
    """The batch's head and its validated items, or the 4xx FastAPI would give for the same body."""
    slices = Slices()
    text = _Text(request.stream(), slices)
    try:
        if not await text.more() or (text.final and not text.text):
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        if not _is_json(request.headers.get("content-type")):
            raise RequestValidationError(
                [{"type": "model_attributes_type", "loc": ("body",), "msg": "must be a JSON object", "input": None}]
            )
        walk = _Walk(text, max_items, slices)
        document = await walk.document()
    except json.JSONDecodeError as exc:
        raise _json_invalid(exc.msg, exc.pos) from None
    except UnicodeDecodeError as exc:
        raise _json_invalid(f"not valid {exc.encoding}", exc.start) from None
    if document is not None:  # not an object: pydantic says so, as it would have
        try:
            AddBatch.model_validate(document)
        except ValidationError as exc:
            raise RequestValidationError(_errors(exc)) from None
    errors: list[dict[str, Any]] = []
    head: BatchHead | None = None
    try:
        if walk.items is not None:  # streamed: the items are validated already
            head = BatchHead.model_validate(walk.head)
        else:
            AddBatch.model_validate({**walk.head, **({"items": walk.raw_items} if walk.has_items else {})})
    except ValidationError as exc:
        errors = _errors(exc)
    errors += walk.errors
    if errors or head is None or walk.items is None:
        raise RequestValidationError(errors)
    return Batch(head.user_id, walk.items, head.dedupe)
