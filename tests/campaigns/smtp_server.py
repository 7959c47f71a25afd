"""A real SMTP server (aiosmtpd) that records what it receives, with fault injection."""

from __future__ import annotations

import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[tuple[str, bytes]] = []  # (recipient, raw message)
        self.refuse: set[str] = set()  # recipients answered 550
        self.tempfail_data = False  # answer 451 to DATA

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.tempfail_data:
            return "451 4.3.0 Try again later"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, envelope.original_content or envelope.content))
        return "250 Message accepted"

    @property
    def recipients(self) -> list[str]:
        with self.lock:
            return [r for r, _ in self.messages]

    def parsed(self, recipient: str):
        with self.lock:
            raw = next(m for r, m in self.messages if r == recipient)
        return email.message_from_bytes(raw, policy=policy.default)


class SmtpServer:
    def __init__(self, handler=None):
        self.handler = handler or RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()
