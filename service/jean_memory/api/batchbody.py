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
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from jean_memory.api.schemas import AddBatch, BatchHead, BatchItem
from jean_memory.cooperative import Slices
from jean_memory.errors import Invalid

#: Bytes decoded to text per slice.
DECODE_SLICE = 1 << 20
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


async def _text(body: bytes, slices: Slices) -> str:
    """The body as text, as `json.loads` decodes bytes (the encoding detected, surrogates passed)."""
    encoding = json.detect_encoding(body)
    decoder = codecs.getincrementaldecoder(encoding)("surrogatepass")
    parts: list[str] = []
    for start in range(0, len(body), DECODE_SLICE):
        end = start + DECODE_SLICE
        parts.append(decoder.decode(body[start:end], final=end >= len(body)))
        await slices.pause()
    return "".join(parts)


def _skip(text: str, i: int) -> int:
    return _WHITESPACE.match(text, i).end()  # type: ignore[union-attr]  # always matches


def _expect(text: str, i: int, char: str, what: str) -> int:
    if i >= len(text) or text[i] != char:
        raise json.JSONDecodeError(f"Expecting {what}", text, i)
    return _skip(text, i + 1)


class _Walk:
    """The top-level object's members; `items` element by element, each validated as it is reached."""

    def __init__(self, text: str, max_items: int, slices: Slices) -> None:
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
        i = _skip(text, 0)
        if i >= len(text) or text[i] != "{":
            value, end = _DECODER.raw_decode(text, i)
            if _skip(text, end) != len(text):
                raise json.JSONDecodeError("Extra data", text, _skip(text, end))
            return value
        i = _skip(text, i + 1)
        if i < len(text) and text[i] == "}":
            return self._end(_skip(text, i + 1))
        while True:
            if i >= len(text) or text[i] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
            key, i = _DECODER.raw_decode(text, i)
            i = _expect(text, _skip(text, i), ":", "':' delimiter")
            if key == "items" and i < len(text) and text[i] == "[":
                i = await self._items(i)
            else:
                value, i = _DECODER.raw_decode(text, i)
                if key == "items":
                    self.has_items, self.items, self.raw_items = True, None, value
                else:
                    self.head[key] = value
            i = _skip(text, i)
            if i < len(text) and text[i] == ",":
                i = _skip(text, i + 1)
                continue
            i = _expect(text, i, "}", "',' delimiter")
            return self._end(i)

    def _end(self, i: int) -> None:
        if i != len(self.text):
            raise json.JSONDecodeError("Extra data", self.text, i)

    async def _items(self, i: int) -> int:
        """The `items` array from its `[`: each element parsed, validated, and the loop given back."""
        text = self.text
        self.has_items, self.items, self.raw_items = True, [], None
        self.errors = [e for e in self.errors if e["loc"][1] != "items"]  # a repeated key: the last one counts
        i = _skip(text, i + 1)
        if i < len(text) and text[i] == "]":
            self.items, self.raw_items = None, []
            return i + 1
        index = 0
        while True:
            value, i = _DECODER.raw_decode(text, i)
            if index >= self.max_items:
                raise Invalid(f"items: more than {self.max_items} items", field="items")
            try:
                self.items.append(_ITEM.validate_python(value))  # type: ignore[union-attr]
            except ValidationError as exc:
                self.errors += _errors(exc, "items", index)
            index += 1
            await self.slices.pause()
            i = _skip(text, i)
            if i < len(text) and text[i] == ",":
                i = _skip(text, i + 1)
                continue
            return _expect(text, i, "]", "',' delimiter")


async def read_batch(request: Request, max_items: int) -> Batch:
    """The batch's head and its validated items, or the 4xx FastAPI would give for the same body."""
    body = await request.body()
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    if not _is_json(request.headers.get("content-type")):
        raise RequestValidationError(
            [{"type": "model_attributes_type", "loc": ("body",), "msg": "must be a JSON object", "input": None}]
        )
    slices = Slices()
    try:
        walk = _Walk(await _text(body, slices), max_items, slices)
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
