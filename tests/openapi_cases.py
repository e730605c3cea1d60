"""Requests built from a service's OpenAPI document: every operation, its path filled and a
minimal valid body, so that a test can call every endpoint a service exposes, including the
ones added after the test was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")

# Samples for the patterns the schemas use; a new pattern fails loudly so that it gets one.
PATTERN_SAMPLES = {
    r"^\d{4}-(03|06|09|12)$": "2026-03",
    r"^[A-Z]{3}$": "IDF",
    r"^[A-Z]{3}-\d{4}-(0[1-9]|1[0-2])$": "IDF-2026-03",
    r"^\d{5}$": "75011",
}
FORMAT_SAMPLES = {
    "date": "2026-03-02", "date-time": "2026-04-01T18:00:00+02:00",
    "email": "referente.idf@cress.example", "uuid": "00000000-0000-0000-0000-000000000001",
}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str           # upper case
    path: str             # as the OpenAPI names it, with {placeholders}
    spec: dict[str, Any] = field(compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def parameters(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]


def operations(service: str, document: dict[str, Any]) -> list[Operation]:
    return [Operation(service, method.upper(), path, spec)
            for path, item in document["paths"].items()
            for method, spec in item.items() if method in METHODS]


class Sampler:
    """Minimal valid values from JSON schemas; ``values`` (by field or parameter name) win,
    so the request targets the seeded resources."""

    def __init__(self, document: dict[str, Any], values: dict[str, Any],
                 body_values: dict[str, Any] | None = None) -> None:
        self.components = document.get("components", {}).get("schemas", {})
        self.path_values = values
        self.values = {**values, **(body_values or {})}

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def sample(self, schema: dict[str, Any], name: str | None = None) -> Any:
        if name in self.values:
            value = self.values[name]
            return value() if callable(value) else value
        schema = self.resolve(schema)
        for combinator in ("anyOf", "oneOf", "allOf"):
            if combinator in schema:
                options = [s for s in schema[combinator] if self.resolve(s).get("type") != "null"]
                return self.sample(options[0], name)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object":
            return self._object(schema)
        if kind == "array":
            return [self.sample(schema["items"]) for _ in range(schema.get("minItems", 0))]
        if kind == "string":
            return self._string(schema, name)
        if kind == "integer":
            return int(schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1))
        if kind == "number":
            return schema.get("minimum", 0.5)
        if kind == "boolean":
            return True
        raise AssertionError(f"no sample for the schema of {name!r}: {schema}")

    def _object(self, schema: dict[str, Any]) -> dict[str, Any]:
        properties = schema.get("properties", {})
        if properties:
            return {key: self.sample(properties[key], key) for key in schema.get("required", [])}
        names = self.resolve(schema.get("propertyNames", {})).get("enum", ["cle"])
        values = schema.get("additionalProperties") or {"type": "string"}
        return {names[0]: self.sample(values)} if schema.get("minProperties") else {}

    @staticmethod
    def _string(schema: dict[str, Any], name: str | None) -> str:
        if "pattern" in schema:
            assert schema["pattern"] in PATTERN_SAMPLES, (
                f"add a sample for the pattern {schema['pattern']!r} of {name!r}")
            return PATTERN_SAMPLES[schema["pattern"]]
        if schema.get("format") in FORMAT_SAMPLES:
            return FORMAT_SAMPLES[schema["format"]]
        return "x" * max(schema.get("minLength", 1), 1)

    def request(self, operation: Operation, *, optional_region: bool = True,
                body: Callable[[], Any] | None = None) -> tuple[str, dict[str, Any], Any]:
        """(url, query, json body or None) of a minimal valid call of ``operation``; ``body``
        makes the whole body where the schema cannot tell a valid one."""
        url = operation.path
        for parameter in operation.parameters("path"):
            name = parameter["name"]
            value = self.path_values.get(name) or self.sample(parameter.get("schema", {}), name)
            url = url.replace("{" + parameter["name"] + "}", str(value))
        query = {p["name"]: self.sample(p.get("schema", {}), p["name"])
                 for p in operation.parameters("query")
                 if p.get("required") or (optional_region and p["name"] == "region")}
        request_body = operation.spec.get("requestBody")
        if body is not None:
            return url, query, body()
        if request_body and request_body.get("required"):
            return url, query, self.sample(request_body["content"]["application/json"]["schema"])
        return url, query, None
