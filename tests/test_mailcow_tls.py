"""Reaching mailcow's nginx by one name and checking its certificate against another, for real.

Inside mailcow's Docker network the bot connects to `https://nginx-mailcow`, whose certificate is for
the mail host name. These tests stand in for that with the mailcow stand-in serving HTTPS on
127.0.0.1 with a certificate for `mail.example.org` from a throwaway CA, and a real TLS handshake:

- with `MAILCOW_TLS_SERVER_NAME=mail.example.org` and that CA trusted (`MAILCOW_VERIFY_TLS=<path>`),
  the client reads the queue; nginx saw the name as SNI and as `Host:`;
- without the name, or with a certificate from another CA, the handshake fails before the API key is
  sent, once (no retry), with a `MailcowUnavailable` that names the setting to fix;
- `check` prints where it connects and which name it checks.
"""

from __future__ import annotations

import datetime
import io
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bot.check import run_checks
from bot.mailcow import ApiCall, MailcowClient, MailcowUnavailable
from bot.settings import Settings, SettingsError, load_settings
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_plugin import make_settings

MAIL_HOST = "mail.example.org"


@dataclass(frozen=True)
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def write(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_ca(common_name: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def server_context(ca: Authority, host: str, directory: Path) -> ssl.SSLContext:
    """What mailcow's nginx presents: a certificate for `host` signed by `ca`, and nothing for any
    other name (nginx-mailcow, 127.0.0.1 and localhost are not on it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(host, ca.cert.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    chain, private = directory / "server.pem", directory / "server.key"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, private)
    return context


@dataclass
class Nginx:
    """The HTTPS stand-in, the CA file the bot is told to trust, and the SNI names it was asked for."""

    fake: FakeMailcow
    ca_file: Path
    sni: list[str | None]

    @property
    def port(self) -> int:
        return int(self.fake.url.rpartition(":")[2])


@pytest.fixture(scope="module")
def mailcow_ca() -> Authority:
    return make_ca("mailcow test CA")


def start_nginx(signer: Authority, trusted: Authority, directory: Path) -> Iterator[Nginx]:
    context = server_context(signer, MAIL_HOST, directory)
    sni: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: sni.append(name)
    fake = FakeMailcow(tls=context)
    fake.seed_demo()
    with fake:
        yield Nginx(fake, trusted.write(directory / "mailcow-ca.pem"), sni)


@pytest.fixture
def nginx(mailcow_ca: Authority, tmp_path: Path) -> Iterator[Nginx]:
    yield from start_nginx(mailcow_ca, mailcow_ca, tmp_path)


@pytest.fixture
def impostor(mailcow_ca: Authority, tmp_path: Path) -> Iterator[Nginx]:
    """A server with a certificate for the right name from another CA; the bot trusts mailcow's CA."""
    yield from start_nginx(make_ca("someone else's CA"), mailcow_ca, tmp_path)


def settings_for(url: str, api_key: str, **extra: Any) -> Settings:
    return load_settings(
        SLACK_BOT_TOKEN="xoxb-test",
        MAILCOW_URL=url,
        MAILCOW_API_KEY=api_key,
        CHATOPS_ALLOWED_CHANNELS="C0123456789",
        _env_file=None,
        **extra,
    )


def client_for(url: str, nginx: Nginx, **extra: Any) -> MailcowClient:
    settings = settings_for(url, nginx.fake.api_key, MAILCOW_VERIFY_TLS=str(nginx.ca_file), **extra)
    return MailcowClient.from_settings(settings)


# --- the handshake --------------------------------------------------------------------------------


def test_reaching_nginx_by_address_checks_the_certificate_against_the_mail_host_name(nginx: Nginx) -> None:
    with client_for(nginx.fake.url, nginx, MAILCOW_TLS_SERVER_NAME=MAIL_HOST) as client:
        assert nginx.fake.url.startswith("https://127.0.0.1:")
        assert len(client.queue(fresh=True)) == 6
        assert client.status_version(fresh=True)
    assert set(nginx.sni) == {MAIL_HOST}
    hosts = {request.headers["host"] for request in nginx.fake.requests}
    assert hosts == {f"{MAIL_HOST}:{nginx.port}"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_without_the_server_name_the_certificate_does_not_match_and_the_key_is_never_sent(
    nginx: Nginx, host: str
) -> None:
    with (
        client_for(f"https://{host}:{nginx.port}", nginx) as client,
        pytest.raises(MailcowUnavailable) as caught,
    ):
        client.queue(fresh=True)
    error = caught.value
    assert error.reason == "tls"
    assert f"certificate at {host} does not match {host}, the name the bot checks" in error.user_message
    assert "Set MAILCOW_TLS_SERVER_NAME to the name on the certificate" in error.user_message
    assert nginx.fake.requests == [], "nothing, so not the API key, went over the unverified connection"
    # No SNI for an address (None), the name otherwise; either way one handshake: no retry.
    assert nginx.sni == [None if host == "127.0.0.1" else host]


def test_a_wrong_server_name_fails_the_same_way(nginx: Nginx) -> None:
    with (
        client_for(nginx.fake.url, nginx, MAILCOW_TLS_SERVER_NAME="webmail.example.org") as client,
        pytest.raises(MailcowUnavailable) as caught,
    ):
        client.queue(fresh=True)
    assert caught.value.reason == "tls"
    assert "does not match webmail.example.org" in caught.value.user_message
    assert "MAILCOW_TLS_SERVER_NAME" in caught.value.user_message


def test_a_certificate_from_another_ca_fails_even_with_the_right_name(impostor: Nginx) -> None:
    with (
        client_for(impostor.fake.url, impostor, MAILCOW_TLS_SERVER_NAME=MAIL_HOST) as client,
        pytest.raises(MailcowUnavailable) as caught,
    ):
        client.queue(fresh=True)
    error = caught.value
    assert error.reason == "tls"
    assert f"(for {MAIL_HOST}) is not signed by a CA the bot trusts" in error.user_message
    assert "unable to get local issuer certificate" in error.user_message
    assert "set MAILCOW_VERIFY_TLS to the path of that CA's certificate" in error.user_message
    assert impostor.fake.requests == []
    assert impostor.sni == [MAIL_HOST]


def test_the_default_trust_store_does_not_know_a_private_ca(nginx: Nginx) -> None:
    settings = settings_for(nginx.fake.url, nginx.fake.api_key, MAILCOW_TLS_SERVER_NAME=MAIL_HOST)
    with MailcowClient.from_settings(settings) as client, pytest.raises(MailcowUnavailable) as caught:
        client.queue(fresh=True)
    assert "MAILCOW_VERIFY_TLS" in caught.value.user_message


def test_writes_go_through_the_same_checked_connection(nginx: Nginx) -> None:
    probe = ApiCall(action="edit", category="mailq", body={"items": [], "attr": {}}, target="queue")
    with client_for(nginx.fake.url, nginx, MAILCOW_TLS_SERVER_NAME=MAIL_HOST) as client:
        assert client.write(probe).entries
    assert nginx.fake.calls("edit/mailq")[0].headers["host"] == f"{MAIL_HOST}:{nginx.port}"


# --- `check` --------------------------------------------------------------------------------------


def test_check_names_the_address_and_the_certificate_name(
    nginx: Nginx, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = make_settings(
        fake_slack,
        nginx.fake.url,
        nginx.fake.api_key,
        tmp_path / "chatops.db",
        MAILCOW_TLS_SERVER_NAME=MAIL_HOST,
        MAILCOW_VERIFY_TLS=str(nginx.ca_file),
    )
    out = io.StringIO()
    assert run_checks(settings, out) == 0, out.getvalue()
    [line] = [line for line in out.getvalue().splitlines() if line.startswith(f"ok   {'mailcow':<13} ")]
    assert f"{nginx.fake.url} as {MAIL_HOST} (trusting the CA in {nginx.ca_file}) answers" in line


def test_check_fails_on_a_mismatch_and_says_what_to_set(
    nginx: Nginx, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    settings = make_settings(
        fake_slack,
        nginx.fake.url,
        nginx.fake.api_key,
        tmp_path / "chatops.db",
        MAILCOW_VERIFY_TLS=str(nginx.ca_file),
    )
    out = io.StringIO()
    assert run_checks(settings, out) == 1
    [line] = [line for line in out.getvalue().splitlines() if line.startswith(f"FAIL {'mailcow':<13} ")]
    assert "MAILCOW_TLS_SERVER_NAME" in line
    assert nginx.fake.requests == []


# --- the settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [("mail.example.org", MAIL_HOST), (" Mail.Example.ORG. ", MAIL_HOST), ("mailcow", "mailcow"), ("", None)],
)
def test_the_server_name_is_a_host_name(given: str, stored: str | None) -> None:
    settings = settings_for("https://nginx-mailcow", "A-B", MAILCOW_TLS_SERVER_NAME=given)
    assert settings.mailcow_tls_server_name == stored


@pytest.mark.parametrize(
    "given",
    ["https://mail.example.org", "mail.example.org:443", "192.0.2.10", "mail_host.example.org", "-a.b"],
)
def test_anything_else_stops_start_up_naming_the_variable(given: str) -> None:
    with pytest.raises(SettingsError, match="MAILCOW_TLS_SERVER_NAME must be the host name"):
        settings_for("https://nginx-mailcow", "A-B", MAILCOW_TLS_SERVER_NAME=given)


def test_a_server_name_needs_https() -> None:
    with pytest.raises(SettingsError, match="MAILCOW_TLS_SERVER_NAME needs an https:// MAILCOW_URL"):
        settings_for("http://nginx-mailcow", "A-B", MAILCOW_TLS_SERVER_NAME=MAIL_HOST)


@pytest.mark.parametrize(("given", "stored"), [("true", True), ("False", False), ("1", True), ("off", False)])
def test_verify_tls_still_takes_a_bool(given: str, stored: bool) -> None:
    assert settings_for("https://m.example", "A-B", MAILCOW_VERIFY_TLS=given).mailcow_verify_tls is stored


def test_verify_tls_takes_a_ca_file_and_refuses_anything_that_is_not_one(
    mailcow_ca: Authority, tmp_path: Path
) -> None:
    ca_file = mailcow_ca.write(tmp_path / "ca.pem")
    assert (
        settings_for("https://m.example", "A-B", MAILCOW_VERIFY_TLS=str(ca_file)).mailcow_verify_tls
        == ca_file
    )
    (tmp_path / "not.pem").write_text("not a certificate\n")
    for given in (tmp_path / "missing.pem", tmp_path / "not.pem", tmp_path, "ture"):
        with pytest.raises(SettingsError, match="MAILCOW_VERIFY_TLS must be true, false or the path of a CA"):
            settings_for("https://m.example", "A-B", MAILCOW_VERIFY_TLS=str(given))
