"""TLS for each connection, chosen by the host it really connects to (every redirect hop, SMTP too).

Three layers, each overriding the one before: `[outbound.tls]`; the `[[outbound.hosts]]` entry for the
connection's (scheme, host, port) (Kibana's customHostSettings); and a connector's own TLS (a webhook's
client certificate, `ca` and `verificationMode`, Kibana's sslOverrides). CA certificates add up (they are
trusted besides the public bundle); the most specific verification mode wins.

Client keys never touch the disk: Python's ssl module loads a certificate chain only from a path, so the
PEM goes to an anonymous in-memory file (memfd) that only this process can open, closed once loaded.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from app.settings import HostSettings, OutboundSettings

# Contexts are costly to build (the public CA bundle is parsed each time) and cheap to keep.
CONTEXT_CACHE_SIZE = 64
MAX_KEY_MATERIAL_BYTES = 256 * 1024


class CertificateError(ValueError):
    """Client-certificate material that cannot be used; the message says why, never what it holds."""


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate chain and its private key, checked and decrypted, kept in memory only."""

    chain_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)
    kind: str  # "crt+key" or "PFX", as the test pane names it

    @property
    def digest(self) -> str:
        return sha256(self.chain_pem + b"\0" + self.key_pem).hexdigest()

    @classmethod
    def from_crt_key(cls, crt: bytes, key: bytes, password: str | None) -> ClientCertificate:
        """PEM certificate(s) and a PEM private key, the key encrypted with `password` or not."""
        try:
            chain = x509.load_pem_x509_certificates(crt)
        except ValueError:
            raise CertificateError("the certificate (crt) is not a PEM certificate") from None
        private_key = _pem_private_key(key, password)
        if _public_bytes(chain[0].public_key()) != _public_bytes(private_key.public_key()):
            raise CertificateError("the private key (key) does not belong to the certificate (crt)")
        return cls(_chain_pem(chain), _unencrypted(private_key), "crt+key")

    @classmethod
    def from_pfx(cls, pfx: bytes, password: str | None) -> ClientCertificate:
        """A PKCS#12 (PFX) bundle holding the certificate, its key and maybe its chain."""
        try:
            bundle = pkcs12.load_pkcs12(pfx, password.encode() if password else None)
        except ValueError:
            why = "wrong password for the PFX" if password else "the PFX is not PKCS#12, or it needs a password"
            raise CertificateError(why) from None
        if bundle.cert is None or bundle.key is None:
            raise CertificateError("the PFX holds no certificate with its private key")
        chain = [bundle.cert.certificate, *(c.certificate for c in bundle.additional_certs)]
        return cls(_chain_pem(chain), _unencrypted(bundle.key), "PFX")


def _pem_private_key(key: bytes, password: str | None):
    try:
        try:
            return serialization.load_pem_private_key(key, password.encode() if password else None)
        except TypeError:
            if not password:
                raise
            # As Node (Kibana): a passphrase given for a key that has none is ignored.
            return serialization.load_pem_private_key(key, None)
    except TypeError:
        raise CertificateError("the private key (key) is encrypted: enter its password") from None
    except ValueError:
        encrypted = password and b"ENCRYPTED" in key
        raise CertificateError(
            "wrong password for the private key (key)" if encrypted else "the private key (key) is not a PEM private key"
        ) from None


def _public_bytes(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _chain_pem(chain: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)


def _unencrypted(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


@dataclass(frozen=True)
class TLSOverride:
    """A connector's own TLS settings for its calls (Kibana's sslOverrides)."""

    verification_mode: str | None = None
    ca_pem: str | None = None  # trusted besides the rest
    client_certificate: ClientCertificate | None = None


@dataclass(frozen=True)
class TLSChoice:
    """What one connection uses: an SSL context (None: the client's default, certifi's CAs), whether to verify the chain and
    the name, and a line for the test pane naming the settings that applied."""

    context: ssl.SSLContext | None
    verify: bool
    check_hostname: bool
    note: str


@dataclass(frozen=True)
class _Plan:
    mode: str
    ca_files: tuple[str, ...]
    ca_data: tuple[str, ...]
    client: ClientCertificate | None

    def key(self) -> tuple:
        return self.mode, self.ca_files, self.ca_data, self.client.digest if self.client else None


def _plan(settings: OutboundSettings, host: HostSettings | None, override: TLSOverride | None) -> tuple[_Plan, str]:
    mode, ca_files, ca_data = settings.tls.verification_mode, list(settings.tls.ca_files), []
    sources = []
    if host is not None:
        scheme, name, port = host.endpoint
        sources.append(f"[[outbound.hosts]] {scheme}://{name}:{port}")
        mode = host.ssl.verification_mode or mode
        ca_files += host.ssl.ca_files
        ca_data += [host.ssl.ca_data] if host.ssl.ca_data else []
    client = None
    if override is not None:
        mode = override.verification_mode or mode
        ca_data += [override.ca_pem] if override.ca_pem else []
        client = override.client_certificate
    cas = [Path(f).name for f in ca_files] + (["inline ca_data"] if host and host.ssl.ca_data else [])
    cas += ["the connector's CA"] if override and override.ca_pem else []
    parts = [*sources, *([f"CA: {', '.join(cas)}"] if cas else []), f"verification: {mode}"]
    if client is not None:
        parts.append(f"client certificate ({client.kind})")
    return _Plan(mode, tuple(ca_files), tuple(ca_data), client), "; ".join(parts)


class TLSContexts:
    """Builds and keeps the SSL contexts an OutboundClient's connections use (thread-safe, bounded)."""

    def __init__(self, settings: OutboundSettings):
        self.settings = settings
        self._cache: OrderedDict[tuple, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()

    def choose(self, scheme: str, host: str, port: int, override: TLSOverride | None = None) -> TLSChoice:
        """The TLS of a connection to scheme://host:port (https, or smtp for mail)."""
        plan, note = _plan(self.settings, self.settings.host_settings(scheme, host, port), override)
        verify = plan.mode != "none"
        if plan.mode == "full" and not (plan.ca_files or plan.ca_data or plan.client):
            return TLSChoice(None, True, True, note)  # the library's default: public CAs, name checked
        return TLSChoice(self._context(plan), verify, plan.mode == "full", note)

    def smtp_context(self, host: str, port: int, *, verify: bool = True) -> tuple[ssl.SSLContext, str]:
        """A context for mail to host:port; `verify=False` is Kibana's anonymous-server leniency, which an
        [[outbound.hosts]] entry's own verification_mode overrides."""
        entry = self.settings.host_settings("smtp", host, port)
        plan, note = _plan(self.settings, entry, None)
        if not verify and not (entry and entry.ssl.verification_mode):
            plan = _Plan("none", plan.ca_files, plan.ca_data, None)
            note = note.rsplit("verification: ", 1)[0] + "verification: none (anonymous server)"
        return self._context(plan), note

    def _context(self, plan: _Plan) -> ssl.SSLContext:
        key = plan.key()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        context = build_context(plan.mode, plan.ca_files, plan.ca_data, plan.client)
        with self._lock:
            self._cache[key] = context
            while len(self._cache) > CONTEXT_CACHE_SIZE:
                self._cache.popitem(last=False)
        return context


def build_context(mode: str, ca_files=(), ca_data=(), client: ClientCertificate | None = None) -> ssl.SSLContext:
    if mode == "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=certifi.where())
        for path in ca_files:
            context.load_verify_locations(cafile=path)
        for pem in ca_data:
            context.load_verify_locations(cadata=pem)
        context.check_hostname = mode == "full"
    if client is not None:
        load_client_certificate(context, client)
    return context


def load_client_certificate(context: ssl.SSLContext, client: ClientCertificate) -> None:
    data = client.chain_pem + b"\n" + client.key_pem
    if len(data) > MAX_KEY_MATERIAL_BYTES:
        raise CertificateError(f"the client certificate is larger than {MAX_KEY_MATERIAL_BYTES} bytes")
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("switchboard-client-certificate", os.MFD_CLOEXEC)
        try:
            _write_all(fd, data)
            context.load_cert_chain(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    # Elsewhere a file in a folder only this user may open (mkdtemp: 0700, mkstemp: 0600), removed at once.
    with tempfile.TemporaryDirectory() as folder:  # pragma: no cover - Linux has memfd
        fd, path = tempfile.mkstemp(dir=folder)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        context.load_cert_chain(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    for _ in range(len(data) + 1):  # each write moves on by at least one byte
        if not view:
            return
        view = view[os.write(fd, view):]
