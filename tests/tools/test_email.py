"""send_email against a real aiosmtpd server: plain, STARTTLS, implicit TLS, AUTH, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from activities.tools.base import ToolError, ToolOutput
from activities.tools.email import TOOLS
from tests.tools.conftest import ToolRig
from tests.tools.smtp_server import SMTPServer, self_signed_cert, smtp_server

SPEC = TOOLS[0]
PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("cert"))


@pytest.fixture
def plain() -> Iterator[SMTPServer]:
    with smtp_server(refuse={"nobody@example.org"}) as server:
        yield server


def configure(rig: ToolRig, server: SMTPServer | None, **extra: Any) -> None:
    values: dict[str, Any] = {"smtp_from": "Cape Bot <bot@cape.example>", "smtp_security": "none"}
    if server is not None:
        values.update(smtp_host=server.host, smtp_port=server.port, smtp_timeout_seconds=5.0)
    values.update(extra)
    rig.settings = rig.settings.model_copy(update=values)


async def send(rig: ToolRig, step_no: int = 1, **args: Any) -> ToolOutput:
    return await SPEC.handler(rig.context(step_no=step_no), SPEC.validate(args))


async def test_plain_text_mail_arrives(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    out = await send(
        rig, to=["Ana <ana@example.com>"], cc=["bo@example.org"], subject="Hi", body="Hello Ana"
    )
    [got] = plain.messages
    assert got.mail_from == "bot@cape.example"
    assert sorted(got.rcpt_tos) == ["ana@example.com", "bo@example.org"]
    assert got.message["Subject"] == "Hi"
    assert got.message["To"] == "Ana <ana@example.com>"
    assert got.message.get_content_type() == "text/plain"
    assert got.message.get_content().strip() == "Hello Ana"
    mid = f"<cape-{rig.task_id}-1@cape.example>"
    assert got.message["Message-ID"] == mid
    assert mid in out.content
    [(kind, record)] = out.records
    assert kind == "email-sent"
    assert record == {
        "message_id": mid,
        "to": ["Ana <ana@example.com>"],
        "cc": ["bo@example.org"],
        "subject": "Hi",
        "attachments": [],
    }


async def test_message_id_is_deterministic_per_step(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    for step_no in (4, 4, 5):
        await send(rig, step_no=step_no, to=["a@example.com"], subject="s", body="b")
    ids = [m.message["Message-ID"] for m in plain.messages]
    assert ids[0] == ids[1] == f"<cape-{rig.task_id}-4@cape.example>"
    assert ids[2] == f"<cape-{rig.task_id}-5@cape.example>"


async def test_html_template_is_multipart_alternative_and_escaped(
    rig: ToolRig, plain: SMTPServer
) -> None:
    configure(rig, plain)
    template = "<h1>Report for {{ name }}</h1><p>Total: {{ total }}</p><p>{{ note }}</p>"
    variables = {"name": "ACME", "total": 42, "note": "<script>alert(1)</script>"}
    await send(
        rig,
        to=["a@example.com"],
        subject="Report",
        template=template,
        variables=variables,
        html=True,
    )
    message = plain.messages[0].message
    assert message.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "<h1>Report for ACME</h1>" in parts["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in parts["text/html"]
    assert "<script>" not in parts["text/html"]
    assert "Report for ACME" in parts["text/plain"]
    assert "Total: 42" in parts["text/plain"]
    assert "<h1>" not in parts["text/plain"]


async def test_template_file_from_workspace(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    (rig.workspace / "mail.txt").write_text("Dear {{ who }}, done.")
    await send(
        rig, to=["a@example.com"], subject="s", template_file="mail.txt", variables={"who": "Bo"}
    )
    assert plain.messages[0].message.get_content().strip() == "Dear Bo, done."


async def test_template_errors_are_tool_errors(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    with pytest.raises(ToolError, match="undefined"):
        await send(rig, to=["a@example.com"], subject="s", template="{{ missing }}")
    with pytest.raises(ToolError, match="template error"):
        await send(rig, to=["a@example.com"], subject="s", template="{{ ().__class__ }}")
    with pytest.raises(ToolError, match="exactly one"):
        await send(rig, to=["a@example.com"], subject="s", body="x", template="y")
    assert plain.messages == []


async def test_attachments_arrive_intact(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    (rig.workspace / "out").mkdir()
    blob = bytes(range(256)) * 400
    (rig.workspace / "out" / "data.bin").write_bytes(blob)
    (rig.workspace / "table.csv").write_text("a,b\n1,2\n")
    out = await send(
        rig,
        to=["a@example.com"],
        subject="files",
        body="see attached",
        attachments=["out/data.bin", "table.csv"],
    )
    message = plain.messages[0].message
    assert message.get_content_type() == "multipart/mixed"
    got = {a.get_filename(): a for a in message.iter_attachments()}
    assert got["data.bin"].get_payload(decode=True) == blob
    assert got["data.bin"].get_content_type() == "application/octet-stream"
    assert got["table.csv"].get_payload(decode=True) == b"a,b\n1,2\n"
    assert got["table.csv"].get_content_type() == "text/csv"
    assert out.records[0][1]["attachments"] == ["data.bin", "table.csv"]


async def test_attachment_escapes_and_size_are_refused(
    rig: ToolRig, plain: SMTPServer, tmp_path: Path
) -> None:
    configure(rig, plain)
    (tmp_path / "secret.txt").write_text("secret")
    (rig.workspace / "link.txt").symlink_to(tmp_path / "secret.txt")
    for path in ("../secret.txt", "/etc/passwd", "link.txt", "missing.txt"):
        with pytest.raises(ToolError):
            await send(rig, to=["a@example.com"], subject="s", body="b", attachments=[path])
    (rig.workspace / "big.bin").write_bytes(b"\0" * (10 * 1024 * 1024 + 1))
    with pytest.raises(ToolError, match="limit"):
        await send(rig, to=["a@example.com"], subject="s", body="b", attachments=["big.bin"])
    assert plain.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_tls_with_auth_and_ca_file(
    rig: ToolRig, cert: tuple[Path, Path], security: str
) -> None:
    with smtp_server(tls=security, cert=cert, credentials=("bot", PASSWORD)) as server:  # type: ignore[arg-type]
        configure(
            rig,
            server,
            smtp_security=security,
            smtp_username="bot",
            smtp_password=SecretStr(PASSWORD),
            smtp_ca_file=cert[0],
        )
        await send(rig, to=["a@example.com"], subject="secure", body="over TLS")
        assert server.logins == ["bot"]
        assert server.messages[0].message.get_content().strip() == "over TLS"


async def test_wrong_password_does_not_leak(rig: ToolRig, cert: tuple[Path, Path]) -> None:
    wrong = "Wr0ng-" + PASSWORD
    with smtp_server(tls="starttls", cert=cert, credentials=("bot", PASSWORD)) as server:
        configure(
            rig,
            server,
            smtp_security="starttls",
            smtp_username="bot",
            smtp_password=SecretStr(wrong),
            smtp_ca_file=cert[0],
        )
        with pytest.raises(ToolError) as caught:
            await send(rig, to=["a@example.com"], subject="s", body="b")
        assert server.messages == []
    message = str(caught.value)
    assert "authentication" in message and "535" in message
    assert wrong not in message and PASSWORD not in message
    assert caught.value.__cause__ is None


async def test_unverified_certificate_is_refused(rig: ToolRig, cert: tuple[Path, Path]) -> None:
    with smtp_server(tls="starttls", cert=cert) as server:
        configure(rig, server, smtp_security="starttls")
        with pytest.raises(ToolError, match="certificate verification failed"):
            await send(rig, to=["a@example.com"], subject="s", body="b")
        assert server.messages == []


async def test_refused_recipient_and_closed_port(rig: ToolRig, plain: SMTPServer) -> None:
    configure(rig, plain)
    with pytest.raises(ToolError, match=r"nobody@example.org \(550"):
        await send(rig, to=["nobody@example.org"], subject="s", body="b")
    out = await send(rig, to=["nobody@example.org", "a@example.com"], subject="s", body="b")
    assert "refused by the server: nobody@example.org" in out.content
    assert plain.messages[0].rcpt_tos == ["a@example.com"]
    configure(rig, None, smtp_host="127.0.0.1", smtp_port=1)
    with pytest.raises(ToolError, match="could not connect"):
        await send(rig, to=["a@example.com"], subject="s", body="b")


async def test_configuration_errors(rig: ToolRig, plain: SMTPServer, tmp_path: Path) -> None:
    configure(rig, None, smtp_host="")
    with pytest.raises(ToolError, match="CAPE_SMTP_HOST"):
        await send(rig, to=["a@example.com"], subject="s", body="b")
    configure(rig, plain, smtp_from="")
    with pytest.raises(ToolError, match="CAPE_SMTP_FROM"):
        await send(rig, to=["a@example.com"], subject="s", body="b")
    configure(rig, plain, smtp_ca_file=tmp_path / "missing.pem")
    with pytest.raises(ToolError, match="CAPE_SMTP_CA_FILE"):
        await send(rig, to=["a@example.com"], subject="s", body="b")
    assert plain.messages == []


@pytest.mark.parametrize(
    "bad", ["not-an-address", "a@", "two@x.org, three@y.org", "x@y.org\r\nBcc: z@q.org"]
)
async def test_bad_address_is_named(rig: ToolRig, plain: SMTPServer, bad: str) -> None:
    configure(rig, plain)
    with pytest.raises(ToolError) as caught:
        await send(rig, to=["ok@example.com"], cc=[bad], subject="s", body="b")
    assert repr(bad) in str(caught.value)
    assert plain.messages == []


async def test_schema_limits(rig: ToolRig) -> None:
    with pytest.raises(ToolError, match="to"):
        SPEC.validate({"to": [f"u{i}@example.com" for i in range(21)], "subject": "s", "body": "b"})
    with pytest.raises(ToolError, match="subject"):
        SPEC.validate({"to": ["a@example.com"], "subject": "x" * 201, "body": "b"})
    with pytest.raises(ToolError, match="bcc"):
        SPEC.validate({"to": ["a@example.com"], "subject": "s", "body": "b", "bcc": ["x@y.org"]})
