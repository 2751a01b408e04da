"""The outbound TLS context made on first use (spec: Server-Server API, "TLS")."""

import logging
import ssl
from pathlib import Path

import pytest

from myelin.federation.tls import LazyClientContext, TlsConfigError, resolve_client_context
from tests.federation.tls_support import TestCA


def test_made_once_on_first_use_with_the_custom_cas(tmp_path: Path) -> None:
    ca = TestCA(tmp_path)
    lazy = LazyClientContext(custom_ca_files=[ca.path])
    assert not lazy.made
    context = resolve_client_context(lazy)
    assert lazy.made
    assert resolve_client_context(lazy) is context is lazy()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    # The system trust store and the operator's CA.
    subjects = [dict(item[0] for item in c["subject"]) for c in context.get_ca_certs()]
    assert len(subjects) == len(ssl.create_default_context().get_ca_certs()) + 1
    assert any(s.get("commonName") == "Myelin Test CA" for s in subjects), subjects


def test_a_bad_ca_file_fails_at_construction(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("nonsense")
    with pytest.raises(TlsConfigError, match="cannot load CA file"):
        LazyClientContext(custom_ca_files=[bad])
    with pytest.raises(TlsConfigError):
        LazyClientContext(custom_ca_files=[tmp_path / "missing.pem"])


def test_no_verify_warns_at_construction_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="myelin.federation"):
        lazy = LazyClientContext(verify=False)
        assert "federation_verify_certificates is false" in caplog.text
        context = lazy()
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert len([r for r in caplog.records if r.name == "myelin.federation"]) == 1


def test_a_ready_context_passes_through() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    assert resolve_client_context(context) is context
