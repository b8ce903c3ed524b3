"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, optionally with TLS and AUTH.

`smtp_server()` yields a running server whose `messages` fill as mail arrives;
`self_signed_cert()` makes a certificate for 127.0.0.1 with the openssl CLI.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One delivered message: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class SMTPServer:
    """A running test server."""

    host: str
    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class _Handler:
    def __init__(self, server: SMTPServer, refuse: set[str]) -> None:
        self.server = server
        self.refuse = refuse

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        mail_from = envelope.mail_from or ""
        self.server.messages.append(Received(mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 Message accepted"


class _Controller(Controller):
    """Binds port 0 and learns the real port before aiosmtpd's readiness probe connects."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate (also its own CA) and key for 127.0.0.1 and localhost."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=test"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def smtp_server(
    *,
    tls: Literal["none", "starttls", "tls"] = "none",
    cert: tuple[Path, Path] | None = None,
    credentials: tuple[str, str] | None = None,
    refuse: set[str] | None = None,
) -> Iterator[SMTPServer]:
    """Run a server; with `credentials` AUTH (LOGIN/PLAIN, only after TLS) is required.

    Args:
        tls: "starttls" offers STARTTLS and requires it; "tls" is TLS from the first byte.
        cert: (certificate, key) for the TLS modes.
        credentials: (user, password) the server accepts.
        refuse: Recipient addresses the server answers 550.
    """
    server = SMTPServer("127.0.0.1", 0)
    kwargs: dict[str, Any] = {}
    if tls != "none":
        assert cert is not None, "TLS needs a certificate"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        if tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            kwargs.update(ssl_context=context)
    if credentials is not None:

        def authenticate(
            smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == credentials
            )
            if ok:
                server.logins.append(data.login.decode())
            # handled=False: aiosmtpd itself answers 535 to a failure.
            return AuthResult(success=ok, handled=False)

        # aiosmtpd only sees STARTTLS as TLS; with implicit TLS the channel is already secure.
        kwargs.update(
            authenticator=authenticate, auth_required=True, auth_require_tls=tls == "starttls"
        )
    controller = _Controller(
        _Handler(server, refuse or set()), hostname="127.0.0.1", port=0, **kwargs
    )
    controller.start()
    server.port = controller.port
    try:
        yield server
    finally:
        controller.stop()
