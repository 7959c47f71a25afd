"""Emulators served on real sockets, so tests talk HTTP to them the way the sync code does."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server

from emulators import dotdigital
from emulators.dotdigital_data import DEFAULT_PASSWORD
from emulators.dotdigital_data import DEFAULT_USERNAME
from tests.emulators.spec_check import SPECS_DIR
from tests.emulators.spec_check import load_spec

DOTDIGITAL_SPEC = str(SPECS_DIR / "dotdigital-v2-openapi.json")


def serve_app(app) -> Iterator[str]:
    """Run a WSGI app on a free local port for as long as the generator is open."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


class ApiSession(requests.Session):
    """A requests session that takes paths relative to one base URL."""

    def __init__(self, base_url: str, auth=None):
        super().__init__()
        self.base_url = base_url
        self.auth = auth

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", 10)
        if url.startswith("/"):
            url = self.base_url + url
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="session")
def _dotdigital_live() -> Iterator[str]:
    yield from serve_app(dotdigital.create_app())


@pytest.fixture
def dotdigital_server(_dotdigital_live) -> str:
    """Base URL of a running Dotdigital emulator, reset to its seed state for this test."""
    requests.post(f"{_dotdigital_live}/_emulator/reset", timeout=5).raise_for_status()
    return _dotdigital_live


@pytest.fixture
def dotdigital_api(dotdigital_server) -> Iterator[ApiSession]:
    """Session logged in as the default API user."""
    with ApiSession(dotdigital_server, auth=(DEFAULT_USERNAME, DEFAULT_PASSWORD)) as session:
        yield session


@pytest.fixture(scope="session")
def dotdigital_spec() -> dict:
    return load_spec(DOTDIGITAL_SPEC)


# -- Mailchimp -------------------------------------------------------------------------------
MAILCHIMP_SPEC = str(SPECS_DIR / "mailchimp-marketing-openapi.json")


@pytest.fixture(scope="session")
def _mailchimp_live() -> Iterator[str]:
    # Imported here so this block stays independent of the imports above.
    from emulators import mailchimp

    yield from serve_app(mailchimp.create_app())


@pytest.fixture
def mailchimp_server(_mailchimp_live) -> str:
    """Base URL of a running Mailchimp emulator, reset to its default state for this test."""
    requests.post(f"{_mailchimp_live}/_emulator/reset", timeout=5).raise_for_status()
    return _mailchimp_live


@pytest.fixture
def mailchimp_api(mailchimp_server) -> Iterator[ApiSession]:
    """Session on ``<server>/3.0`` authenticated with the default API key (Basic auth)."""
    from emulators.mailchimp_data import DEFAULT_API_KEY

    with ApiSession(f"{mailchimp_server}/3.0", auth=("listbridge", DEFAULT_API_KEY)) as session:
        yield session


def _relax_merge_fields(node) -> None:
    # The published spec types each merge-field value as an object, but the live API sends
    # strings ("FNAME": "Ann"); accept any value there so real payloads validate.
    if isinstance(node, dict):
        merge_fields = node.get("properties", {}).get("merge_fields")
        if isinstance(merge_fields, dict) and "additionalProperties" in merge_fields:
            merge_fields["additionalProperties"] = {}
        for value in node.values():
            _relax_merge_fields(value)
    elif isinstance(node, list):
        for value in node:
            _relax_merge_fields(value)


@pytest.fixture(scope="session")
def mailchimp_spec() -> dict:
    """The Mailchimp OpenAPI document (loaded once; 3 MB), with the merge-field erratum fixed."""
    import copy

    spec = copy.deepcopy(load_spec(MAILCHIMP_SPEC))
    _relax_merge_fields(spec)
    return spec
