"""Render email templates in Jinja's sandbox with one recipient's fields.

Templates are written by marketers, so they run in ImmutableSandboxedEnvironment: no
attribute access to internals, no mutation of the context. The HTML body is
autoescaped (a member named ``<script>`` stays text); subject and text are not HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinja2 import TemplateError
from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_html_env = ImmutableSandboxedEnvironment(autoescape=True)
_text_env = ImmutableSandboxedEnvironment(autoescape=False)

# Shown by the preview when no marketing list is chosen; clearly a sample, never sent.
SAMPLE_FIELDS = {"first_name": "Jane", "last_name": "Sample", "email": "jane.sample@example.com",
                 "company": "Example Ltd", "city": "Springfield", "country": "US"}


class RenderError(ValueError):
    """A template failed for one recipient; the message says where and why."""


@dataclass(frozen=True)
class Compiled:
    subject: object
    html: object
    text: object


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def syntax_errors(subject: str, html: str, text: str) -> dict[str, str]:
    """Form-field errors for template syntax (empty when all three parse)."""
    errors = {}
    for field, source, env in (("subject", subject, _text_env), ("html_body", html, _html_env),
                               ("text_body", text, _text_env)):
        try:
            env.parse(source or "")
        except TemplateSyntaxError as exc:
            errors[field] = f"Template syntax error on line {exc.lineno}: {exc.message}"
    return errors


def compile_template(subject: str, html: str, text: str) -> Compiled:
    try:
        return Compiled(_text_env.from_string(subject or ""), _html_env.from_string(html or ""),
                        _text_env.from_string(text or ""))
    except TemplateSyntaxError as exc:
        raise RenderError(f"template syntax error on line {exc.lineno}: {exc.message}") from exc


def context(email: str, fields: dict, extra: dict | None = None) -> dict:
    """What a template sees: each field by name, ``email``, ``recipient`` (all fields)."""
    values = {k: ("" if v is None else v) for k, v in fields.items()}
    return {**values, "email": email, "recipient": values, **(extra or {})}


def render(compiled: Compiled, ctx: dict) -> Rendered:
    try:
        subject = compiled.subject.render(ctx)
        html = compiled.html.render(ctx)
        text = compiled.text.render(ctx)
    except TemplateError as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise RenderError(f"{type(exc).__name__}: {exc}") from exc
    # A header cannot hold a line break; a field with one must not inject headers.
    return Rendered(" ".join(subject.split()), html, text)
