"""Forwarding hits to a Matomo server: bulk requests with the token, outbox emptied once
accepted, kept when refused."""

import json
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest

import jobs
from extensions import db
from models.jobs import JobStatus
from models.tracking import TrackingOutbox
from services import settings
from services.tracking import config
from services.tracking import sites
from tests import factories_tracking as tf


class _Matomo:
    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        matomo = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                matomo.requests.append({"path": self.path, "body": json.loads(body)})
                self.send_response(matomo.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def matomo(app):
    server = _Matomo()
    settings.save({config.PIWIK_HOST: server.url})
    from services import crypto

    settings.save({config.PIWIK_TOKEN: crypto.encrypt("tok-123")})
    sites.clear()
    yield server
    server.server.shutdown()


def test_hits_are_forwarded_in_bulk_with_the_token(client, matomo):
    tf.website("7")
    for n in range(3):
        assert client.get(f"/tracking.php?idsite=7&rec=1&url=https%3A%2F%2Fs%2F{n}"
                          "&send_image=0", headers={"User-Agent": "UA-1"}).status_code == 204
    assert db.session.query(TrackingOutbox).count() == 3
    matomo.status = 503
    failed = jobs.enqueue("tracking_drain", "", {"force": True})
    assert failed.status is JobStatus.FAILED and "503" in failed.error
    assert db.session.query(TrackingOutbox).count() == 3  # kept for the next run
    matomo.status = 200
    run = jobs.enqueue("tracking_forward", "", {})
    assert run.status is JobStatus.SUCCEEDED and run.counts["forwarded"] == 3
    assert db.session.query(TrackingOutbox).count() == 0
    sent = matomo.requests[-1]
    assert sent["path"] == "/matomo.php" and sent["body"]["token_auth"] == "tok-123"
    first = sent["body"]["requests"][0]
    assert first.startswith("?") and "idsite=7" in first and "cip=127.0.0.1" in first
    assert "ua=UA-1" in first and "cdt=" in first
