"""The SMTP connection and the MIME message of one recipient."""

from __future__ import annotations

import binascii
import re
import smtplib
import ssl
import uuid
from email.header import Header
from email.utils import formataddr
from email.utils import formatdate

from services.email_campaigns.config import SmtpConfig
from services.email_campaigns.links import LinkMaker
from services.email_campaigns.rendering import Rendered


class SmtpUnavailable(RuntimeError):
    """The server is down or refused us; nothing was handed over on this attempt."""


def connect(cfg: SmtpConfig) -> smtplib.SMTP:
    try:
        if cfg.security == "ssl":
            conn = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if cfg.username:
            conn.login(cfg.username, cfg.password or "")
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpUnavailable(f"SMTP server {cfg.host}:{cfg.port} unavailable: "
                              f"{type(exc).__name__}: {exc}") from exc
    return conn


def close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    try:
        conn.quit()
    except (OSError, smtplib.SMTPException):
        conn.close()


class MessageBuilder:
    """Builds each recipient's MIME message as bytes, CRLF-terminated, ready for SMTP.

    Written out directly rather than through email.message.EmailMessage, whose header
    parsing and folding cost several milliseconds a message, more than the SMTP
    conversation itself. The layout is fixed: multipart/alternative with a
    quoted-printable text part and HTML part (or the text part alone). Quoted-printable
    never produces "=_", so the boundary cannot occur inside a part.
    """

    def __init__(self, sender: tuple[str, str], links: LinkMaker, domain: str):
        self.sender_header = _header_value(formataddr((sender[1], sender[0]), charset="utf-8"))
        self.links = links
        self.domain = domain
        self.boundary = f"=_lb_{uuid.uuid4().hex}"

    def build(self, rendered: Rendered, to: str, rid: int) -> bytes:
        """Raises ValueError for an address or value a message cannot carry."""
        if not _ADDRESS.match(to):
            raise ValueError(f"cannot address a message to {to!r}")
        unsubscribe = self.links.unsubscribe_url(rid)
        headers = [
            f"Subject: {_subject(rendered.subject)}",
            f"From: {self.sender_header}",
            f"To: {to}",
            f"Date: {formatdate(usegmt=True)}",
            f"Message-ID: <{uuid.uuid4().hex}.lb.{rid}@{self.domain}>",
            f"List-Unsubscribe: <{unsubscribe}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "MIME-Version: 1.0",
        ]
        text = (rendered.text or "This message is best viewed as HTML.") + \
            f"\n\nUnsubscribe: {unsubscribe}\n"
        if not rendered.html.strip():
            head = "\r\n".join([*headers, *_part_headers("plain")])
            return head.encode() + b"\r\n\r\n" + _qp(text) + b"\r\n"
        html = self.links.track_html(rendered.html, rid)
        marker = f"--{self.boundary}"
        head = "\r\n".join([
            *headers, f'Content-Type: multipart/alternative; boundary="{self.boundary}"', "",
            marker, *_part_headers("plain"), ""])
        middle = "\r\n".join(["", marker, *_part_headers("html"), ""])
        return b"".join([head.encode(), b"\r\n", _qp(text), middle.encode(), b"\r\n",
                         _qp(html), f"\r\n{marker}--\r\n".encode()])


_ADDRESS = re.compile(r"^[\x21-\x7e]+@[\x21-\x7e]+$")  # printable ASCII, no spaces or breaks


def _part_headers(subtype: str) -> list[str]:
    return [f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable"]


def _qp(text: str) -> bytes:
    body = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    return binascii.b2a_qp(body, istext=True).replace(b"\n", b"\r\n")


def _header_value(value: str) -> str:
    if any(c in value for c in "\r\n"):
        raise ValueError("a header cannot contain a line break")
    return value


def _subject(subject: str) -> str:
    subject = _header_value(subject)
    if subject.isascii() and len(subject) < 900:
        return subject
    return Header(subject, "utf-8").encode(maxlinelen=76, linesep="\r\n")
