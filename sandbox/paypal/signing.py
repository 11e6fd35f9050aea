"""PayPal webhook signatures: SHA256withRSA (PKCS#1 v1.5) over
``transmission_id|transmission_time|webhook_id|crc32(raw body)``, CRC-32 as an unsigned decimal
(https://developer.paypal.com/api/rest/webhooks/rest/#link-verifyoffline). A fresh RSA key and
self-signed certificate are made at start-up; the PEM is served at the URL sent in PAYPAL-CERT-URL."""

from __future__ import annotations

import base64
import datetime as dt
import zlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def signed_message(transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{transmission_time}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()


class WebhookSigner:
    def __init__(self):
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HisabPro gateway sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.sandbox.local"),
        ])
        now = dt.datetime.now(dt.timezone.utc)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .sign(self._key, hashes.SHA256())
        )
        self.pem = self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, transmission_id: str, transmission_time: str, webhook_id: str, body: bytes) -> str:
        message = signed_message(transmission_id, transmission_time, webhook_id, body)
        return base64.b64encode(self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def verify(self, signature_b64: str, transmission_id: str, transmission_time: str, webhook_id: str,
               body: bytes) -> bool:
        message = signed_message(transmission_id, transmission_time, webhook_id, body)
        try:
            signature = base64.b64decode(signature_b64, validate=True)
            self.certificate.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
        except (InvalidSignature, ValueError):
            return False
