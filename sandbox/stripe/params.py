"""Stripe's form encoding: ``a[b][0][c]=v`` into nested dicts and lists, and a strict checker.

stripe-python encodes nested params this way (stripe/_encode.py, `_api_encode`): dicts as ``[key]``,
lists as ``[index]``; brackets are sent unescaped. Every value arrives as a string.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from ..gateway import GatewayError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def invalid_request(message: str, param: str | None = None, code: str | None = None, status: int = 400) -> GatewayError:
    # Error envelope: https://docs.stripe.com/api/errors (type, code, message, param, doc_url).
    error: dict[str, Any] = {"message": message, "type": "invalid_request_error"}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    if param:
        error["param"] = param
    return GatewayError(status, {"error": error})


def decode_form(body: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            raise invalid_request(f"Invalid parameter name: {raw_key}", raw_key)
        parts = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node = root
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part == "":  # `a[]=x` appends
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise invalid_request(f"Invalid parameter: {raw_key}", raw_key)
                node = child
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def param_name(path: list[str | int]) -> str:
    head, *rest = path
    return str(head) + "".join(f"[{p}]" for p in rest)


# ---- a small schema language for Stripe params -----------------------------------------------------
class Str:
    def __init__(self, max_len: int = 5000, choices: tuple[str, ...] | None = None):
        self.max_len, self.choices = max_len, choices

    def check(self, value: Any, path: list) -> str:
        name = param_name(path)
        if not isinstance(value, str):
            raise invalid_request(f"Invalid string: {value!r}", name, "parameter_invalid_string")
        if self.choices and value not in self.choices:
            options = ", ".join(self.choices[:-1]) + f", or {self.choices[-1]}" if len(self.choices) > 1 else self.choices[0]
            raise invalid_request(f"Invalid {path[-1]}: must be one of {options}", name)
        if len(value) > self.max_len:
            raise invalid_request(f"Invalid string: {value[:20]}...; must be at most {self.max_len} characters",
                                  name, "parameter_invalid_string")
        return value


class Int:
    def check(self, value: Any, path: list) -> int:
        if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
            raise invalid_request(f"Invalid integer: {value}", param_name(path), "parameter_invalid_integer")
        return int(value)


class Decimal:
    """A decimal string such as `unit_amount_decimal` ("1250", "1250.5"; at most 12 decimal places)."""

    def check(self, value: Any, path: list) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d{1,12})?", value):
            raise invalid_request(f"Invalid decimal: {value}", param_name(path))
        return value


class Bool:
    def check(self, value: Any, path: list) -> bool:
        if value not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {value}", param_name(path))
        return value == "true"


class Metadata:
    # Metadata limits: 50 keys, key <= 40 chars, value <= 500 chars (https://docs.stripe.com/api/metadata).
    def check(self, value: Any, path: list) -> dict[str, str]:
        name = param_name(path)
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", name, "parameter_invalid_hash")
        if len(value) > 50:
            raise invalid_request("You can specify up to 50 keys in metadata.", name)
        for key, item in value.items():
            if len(key) > 40:
                raise invalid_request(f"Metadata keys must be at most 40 characters long (`{key}`).", name)
            if not isinstance(item, str) or len(item) > 500:
                raise invalid_request(f"Metadata values must be strings of at most 500 characters (`{key}`).", name)
        return dict(value)


class Obj:
    def __init__(self, fields: dict[str, Any], required: tuple[str, ...] = ()):
        self.fields, self.required = fields, required

    def check(self, value: Any, path: list) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param_name(path) if path else None, "parameter_invalid_hash")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in self.fields:
                raise invalid_request(f"Received unknown parameter: {param_name(path + [key])}",
                                      param_name(path + [key]), "parameter_unknown")
            out[key] = self.fields[key].check(item, path + [key])
        for key in self.required:
            if key not in out:
                raise invalid_request(f"Missing required param: {param_name(path + [key])}.",
                                      param_name(path + [key]), "parameter_missing")
        return out


class AnyHash:
    """A hash the sandbox accepts without reading it (say `payment_method_options[card]`): checked to be a
    hash, kept as sent."""

    def check(self, value: Any, path: list) -> dict[str, Any]:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param_name(path), "parameter_invalid_hash")
        return value


class OrEmpty:
    """Parameters Stripe lets you unset by sending an empty string (`custom_text[submit]=`): None then."""

    def __init__(self, inner: Any):
        self.inner = inner

    def check(self, value: Any, path: list) -> Any:
        return None if value == "" else self.inner.check(value, path)


class List:
    def __init__(self, item: Any):
        self.item = item

    def check(self, value: Any, path: list) -> list:
        if value == "":
            return []
        if not isinstance(value, list):
            raise invalid_request("Invalid array", param_name(path), "parameter_invalid_array")
        return [self.item.check(v, path + [i]) for i, v in enumerate(value)]


def check_params(schema: Obj, params: dict[str, Any]) -> dict[str, Any]:
    return schema.check(params, [])
