"""The `send_email` tool: a text or HTML message, optionally with workspace attachments, by SMTP."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import smtplib
import ssl
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses
from pathlib import Path, PurePosixPath
from typing import Any

import structlog

from activities.tools.base import Placement, Risk, ToolContext, ToolError, ToolOutput, ToolSpec
from activities.tools.templates import (
    html_to_text,
    read_workspace_text,
    render_template,
)
from activities.tools.workspace_io import open_for_read, read_fd
from cape.settings import Settings

log = structlog.get_logger(__name__)

MAX_RECIPIENTS = 20
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_BODY_CHARS = 1024 * 1024
# mimetypes reports compression separately ("x.tar.gz" is a gzip-encoded tar).
_ENCODED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
}

_ADDRESSES = {"type": "array", "items": {"type": "string", "maxLength": 320}}
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to": {
            **_ADDRESSES,
            "minItems": 1,
            "maxItems": MAX_RECIPIENTS,
            "description": "Recipients, e.g. ['ana@example.com', 'Bo Li <bo@example.org>'].",
        },
        "cc": {**_ADDRESSES, "maxItems": MAX_RECIPIENTS, "description": "Copy recipients."},
        "subject": {"type": "string", "minLength": 1, "maxLength": 200},
        "body": {
            "type": "string",
            "maxLength": MAX_BODY_CHARS,
            "description": "The message text (HTML when `html` is true). Or use a template.",
        },
        "template": {
            "type": "string",
            "maxLength": MAX_BODY_CHARS,
            "description": "A Jinja2 template of the body, rendered with `variables` "
            "(values are HTML-escaped when `html` is true).",
        },
        "template_file": {
            "type": "string",
            "description": "Workspace-relative path of a Jinja2 template file, instead of "
            "`template`.",
        },
        "variables": {"type": "object", "description": "Values for the template."},
        "html": {
            "type": "boolean",
            "description": "The body is HTML; a plain-text alternative is added. Default false.",
        },
        "attachments": {
            "type": "array",
            "items": {"type": "string"},
            "maxItems": 20,
            "description": f"Workspace-relative paths of files to attach, "
            f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB in all at most.",
        },
    },
    "required": ["to", "subject"],
    "additionalProperties": False,
}


def parse_address(text: str) -> Address:
    """Parse 'user@host' or 'Name <user@host>', naming the address in the ToolError."""
    if any(ch in text for ch in "\r\n"):
        raise ToolError(f"invalid email address {text!r}: line breaks are not allowed")
    parsed = getaddresses([text])
    if len(parsed) != 1 or not parsed[0][1]:
        raise ToolError(f"invalid email address {text!r}: expected one address like a@b.org")
    name, spec = parsed[0]
    try:
        address = Address(display_name=name, addr_spec=spec)
    except (HeaderParseError, ValueError, IndexError) as exc:
        raise ToolError(f"invalid email address {text!r}: {exc}") from None
    if not address.username or "." not in address.domain or " " in address.domain:
        raise ToolError(f"invalid email address {text!r}: expected a form like name@example.org")
    return address


def message_id(task_id: str, step_no: int, sender: Address) -> str:
    """The Message-ID of a step's mail: a retry sends the same id, so receivers can drop it."""
    safe_id = re.sub(r"[^A-Za-z0-9._-]", "-", task_id)  # ids are ours, but keep the header valid
    return f"<cape-{safe_id}-{step_no}@{sender.domain}>"


def _body(ctx: ToolContext, args: dict[str, Any]) -> tuple[str, str | None]:
    """The text body and, when `html`, the HTML body."""
    given = [key for key in ("body", "template", "template_file") if key in args]
    if len(given) != 1:
        raise ToolError("give exactly one of `body`, `template` or `template_file`")
    as_html = bool(args.get("html", False))
    if "body" in args:
        content = str(args["body"])
    else:
        source = args.get("template")
        if source is None:
            source = read_workspace_text(ctx.workspace, args["template_file"], MAX_BODY_CHARS)
        content = render_template(source, args.get("variables") or {}, autoescape=as_html)
    return (html_to_text(content), content) if as_html else (content, None)


def _attachments(workspace: Path, paths: list[str]) -> list[tuple[str, str, bytes]]:
    """(name, media type, bytes) of each attachment, refusing escapes, links and too much data.

    Each file is opened once by descriptor (`workspace_io`) and read from that descriptor.
    """
    with contextlib.ExitStack() as stack:
        opened = []
        for rel in paths:
            try:
                fd, _ = stack.enter_context(open_for_read(workspace, rel))
            except ToolError as exc:
                raise ToolError(f"attachment {rel!r}: {exc}") from None
            opened.append((rel, fd))
        total = sum(os.fstat(fd).st_size for _, fd in opened)
        if total > MAX_ATTACHMENT_BYTES:
            raise ToolError(f"attachments are {total} bytes; the limit is {MAX_ATTACHMENT_BYTES}")
        out, total = [], 0
        for rel, fd in opened:
            name = PurePosixPath(rel).name
            guessed, encoding = mimetypes.guess_type(name)
            media = _ENCODED_TYPES.get(encoding or "") if encoding else guessed
            data = read_fd(fd, MAX_ATTACHMENT_BYTES + 1 - total)
            total += len(data)
            if total > MAX_ATTACHMENT_BYTES:  # a file grew after the check
                raise ToolError(f"attachments are over the limit of {MAX_ATTACHMENT_BYTES} bytes")
            out.append((name, media or "application/octet-stream", data))
    return out


def _smtp_reason(exc: Exception, settings: Settings) -> str:
    """Why sending failed, in words an operator can act on, without the password."""
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reason = f"authentication as {settings.smtp_username!r} failed: {_said(exc)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{rcpt} ({_said(err)})" for rcpt, err in exc.recipients.items())
        reason = f"the server refused every recipient: {refused}"
    elif isinstance(exc, smtplib.SMTPSenderRefused):
        reason = f"the server refused the sender {exc.sender!r}: {_said(exc)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"the server answered {_said(exc)}"
    elif isinstance(exc, ssl.SSLCertVerificationError):
        reason = (
            f"TLS certificate verification failed ({exc.verify_message}); the operator can "
            "trust the server's CA with CAPE_SMTP_CA_FILE"
        )
    elif isinstance(exc, ssl.SSLError):
        reason = f"TLS failed: {exc.reason or exc}"
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        reason = f"the server does not support a required extension: {exc}"
    elif isinstance(exc, TimeoutError):
        reason = f"no answer within {settings.smtp_timeout_seconds} s"
    elif isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
        reason = f"could not connect: {exc.strerror or exc}"
    else:
        reason = str(exc) or type(exc).__name__
    password = settings.smtp_password.get_secret_value()
    if password:
        reason = reason.replace(password, "***")
    return f"sending through {where} failed: {reason}"


def _said(exc: Any) -> str:
    code, raw = (exc.smtp_code, exc.smtp_error) if hasattr(exc, "smtp_code") else exc
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return f"{code} {' '.join(text.split())}"


def _send(settings: Settings, msg: EmailMessage, sender: str, rcpts: list[str]) -> dict[str, Any]:
    """Deliver `msg` (blocking); returns the recipients the server refused while accepting some."""
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(settings.smtp_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ToolError(f"CAPE_SMTP_CA_FILE {str(settings.smtp_ca_file)!r}: {exc}") from None
    host, port, timeout = settings.smtp_host, settings.smtp_port, settings.smtp_timeout_seconds
    if settings.smtp_security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if settings.smtp_security == "starttls":
            client.starttls(context=context)
        if settings.smtp_username:
            client.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        return client.send_message(msg, from_addr=sender, to_addrs=rcpts)


async def send_email(ctx: ToolContext, args: dict[str, Any]) -> ToolOutput:
    """Compose the message, send it through the operator's SMTP server and record the send."""
    settings = ctx.settings
    if not settings.smtp_host:
        raise ToolError("email is not configured: the operator must set CAPE_SMTP_HOST")
    if not settings.smtp_from:
        raise ToolError("email is not configured: the operator must set CAPE_SMTP_FROM")
    sender = parse_address(settings.smtp_from)
    to = [parse_address(a) for a in args["to"]]
    cc = [parse_address(a) for a in args.get("cc", [])]
    subject = args["subject"]
    if any(ch in subject for ch in "\r\n"):
        raise ToolError("subject must be one line")
    text, html = await asyncio.to_thread(_body, ctx, args)
    attached = await asyncio.to_thread(_attachments, ctx.workspace, args.get("attachments", []))

    msg = EmailMessage()
    msg["From"] = str(sender)
    msg["To"] = ", ".join(str(a) for a in to)
    if cc:
        msg["Cc"] = ", ".join(str(a) for a in cc)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = mid = message_id(ctx.task_id, ctx.step_no, sender)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, media, data in attached:
        maintype, subtype = media.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)

    rcpts = [a.addr_spec for a in to + cc]
    try:
        refused = await asyncio.to_thread(_send, settings, msg, sender.addr_spec, rcpts)
    except ToolError:
        raise
    except Exception as exc:  # any failure here may hold the password: never let it propagate
        reason = _smtp_reason(exc, settings)
        log.info("email not sent", message_id=mid, error=reason)
        raise ToolError(reason) from None
    names = [name for name, _, _ in attached]
    record = {
        "message_id": mid,
        "to": [str(a) for a in to],
        "cc": [str(a) for a in cc],
        "subject": subject,
        "attachments": names,
    }
    line = f"Email sent to {len(rcpts) - len(refused)} recipient(s), Message-ID {mid}"
    if refused:
        record["refused"] = sorted(refused)
        line += "; refused by the server: " + ", ".join(sorted(refused))
    log.info("email sent", message_id=mid, recipients=len(rcpts), refused=len(refused))
    return ToolOutput(content=line + ".", records=[("email-sent", record)])


TOOLS: list[ToolSpec] = [
    ToolSpec(
        name="send_email",
        description=(
            "Send an email from the platform's address. Give `body` (plain text, or HTML with "
            "`html: true`) or a Jinja2 `template`/`template_file` with `variables`. Attach "
            "workspace files with `attachments`. The mail leaves immediately and cannot be "
            "recalled."
        ),
        parameters=PARAMETERS,
        risk=Risk.EXTERNAL,
        placement=Placement.WORKSPACE,
        handler=send_email,
    )
]
