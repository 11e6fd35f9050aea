"""Id generation: random by default, reproducible when the sandbox is given a seed."""

from __future__ import annotations

import random
import string
import threading

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits


class IdFactory:
    def __init__(self, seed: int | None = None):
        self._lock = threading.Lock()
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rand = random.Random(seed) if seed is not None else random.SystemRandom()

    def token(self, length: int, alphabet: str = ALNUM) -> str:
        with self._lock:
            return "".join(self._rand.choice(alphabet) for _ in range(length))

    def make(self, prefix: str, length: int, alphabet: str = ALNUM) -> str:
        return prefix + self.token(length, alphabet)

    def uuid(self) -> str:
        """A version-4-shaped UUID drawn from the same generator (PayPal transmission ids)."""
        hexd = self.token(32, "0123456789abcdef")
        return f"{hexd[:8]}-{hexd[8:12]}-4{hexd[13:16]}-a{hexd[17:20]}-{hexd[20:]}"
