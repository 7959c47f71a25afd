"""Check emulator traffic against an OpenAPI 3.0 document.

Shared by the emulator tests (Dotdigital, Mailchimp). Usage:

    spec = load_spec(SPECS_DIR / "dotdigital-v2-openapi.json")
    assert_response_matches(spec, "get", "/v2/address-books/{id}", resp)
    assert_request_matches(spec, "post", "/v2/address-books", {"name": "x"})

``path_template`` is the key exactly as it appears under ``paths`` in the document.
Schemas are checked with jsonschema (Draft 4, the dialect OpenAPI 3.0 is based on) after
rewriting the OpenAPI-only keywords that jsonschema does not know (``nullable``), and with
``$ref``s resolved against the document's own ``components``.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import jsonschema
import requests

_JSON_TYPES = ("application/json", "text/json", "application/problem+json")


def _specs_dir() -> Path:
    """The OpenAPI documents: $LISTBRIDGE_SPECS_DIR, else shared/ beside the checkout (CI
    clones main next to it), else the workplace's /work/shared for a clone made elsewhere.
    """
    if os.environ.get("LISTBRIDGE_SPECS_DIR"):
        return Path(os.environ["LISTBRIDGE_SPECS_DIR"])
    beside = Path(__file__).resolve().parents[3] / "shared" / "specs"
    workplace = Path("/work/shared/specs")
    return beside if beside.is_dir() or not workplace.is_dir() else workplace


SPECS_DIR = _specs_dir()


@functools.lru_cache(maxsize=8)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as fh:
        return _to_json_schema(json.load(fh))


def load_spec(path) -> dict:
    """Parse (once per path) and return the spec, already converted for jsonschema.

    Callers must treat the result as read-only: it is shared across tests.
    """
    return _load(str(Path(path).resolve()))


def _to_json_schema(node):
    """Rewrite OpenAPI 3.0 schema keywords into plain JSON Schema, recursively."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        # OpenAPI's nullable widens the type; anyOf keeps $ref and enum intact too.
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _operation(spec: dict, method: str, path_template: str) -> dict:
    paths = spec.get("paths", {})
    if path_template not in paths:
        raise AssertionError(f"path {path_template!r} is not in the spec")
    operation = paths[path_template].get(method.lower())
    if operation is None:
        raise AssertionError(f"{method.upper()} {path_template} is not in the spec")
    return operation


def _media_schema(content: dict, content_type: str) -> tuple[str | None, dict | None]:
    """Pick the declared media type that matches ``content_type``; (None, None) if none."""
    base = (content_type or "").split(";")[0].strip().lower()
    if base in content:
        return base, content[base].get("schema")
    for declared, media in content.items():
        major, _, minor = declared.partition("/")
        if declared == "*/*" or (minor == "*" and base.startswith(major + "/")):
            return declared, media.get("schema")
    return None, None


def _validate(spec: dict, schema: dict, instance, where: str) -> None:
    # Embedding components lets "#/components/..." refs resolve inside the wrapper.
    wrapper = {"allOf": [schema], "components": spec.get("components", {})}
    validator = jsonschema.Draft4Validator(wrapper)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{where}: body does not match the spec:"]
        for err in errors[:10]:
            location = "/".join(str(p) for p in err.absolute_path) or "<root>"
            lines.append(f"  at {location}: {err.message[:300]}")
        raise AssertionError("\n".join(lines))


def response_schema(spec: dict, method: str, path_template: str, status: int,
                    content_type: str = "application/json") -> dict | None:
    """The schema declared for one response, or None when the spec declares no body."""
    responses = _operation(spec, method, path_template).get("responses", {})
    declared = (responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
                or responses.get("default"))
    if declared is None:
        raise AssertionError(
            f"{method.upper()} {path_template}: status {status} is not declared "
            f"(declared: {', '.join(sorted(responses))})")
    content = declared.get("content") or {}
    if not content:
        return None
    media, schema = _media_schema(content, content_type)
    if media is None:
        raise AssertionError(
            f"{method.upper()} {path_template} {status}: content type {content_type!r} "
            f"is not declared (declared: {', '.join(content)})")
    return schema


def assert_response_matches(spec: dict, method: str, path_template: str,
                            response: requests.Response) -> None:
    """Fail unless the status is declared for the operation and a JSON body fits its schema.

    Non-JSON bodies (CSV, text/plain) are checked for a declared content type only.
    """
    where = f"{method.upper()} {path_template} -> {response.status_code}"
    content_type = response.headers.get("Content-Type", "")
    responses = _operation(spec, method, path_template).get("responses", {})
    status = str(response.status_code)
    declared = (responses.get(status) or responses.get(f"{status[0]}XX")
                or responses.get("default"))
    if declared is None:
        raise AssertionError(f"{where}: status not declared (declared: "
                             f"{', '.join(sorted(responses))})")
    if not declared.get("content") or not response.content:
        return
    schema = response_schema(spec, method, path_template, response.status_code,
                             content_type or "application/json")
    base = content_type.split(";")[0].strip().lower()
    if schema is None or (base and base not in _JSON_TYPES and not base.endswith("+json")):
        return
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(f"{where}: body is not JSON: {response.text[:200]!r}") from exc
    _validate(spec, schema, body, where)


def assert_request_matches(spec: dict, method: str, path_template: str, body,
                           content_type: str = "application/json") -> None:
    """Fail unless ``body`` (already-decoded JSON) fits the declared request body schema."""
    operation = _operation(spec, method, path_template)
    request_body = operation.get("requestBody")
    where = f"{method.upper()} {path_template} request"
    if request_body is None:
        raise AssertionError(f"{where}: the spec declares no request body")
    media, schema = _media_schema(request_body.get("content", {}), content_type)
    if media is None:
        raise AssertionError(f"{where}: content type {content_type!r} is not declared")
    if schema is not None:
        _validate(spec, schema, body, where)
