"""The RS256 signing key (made once per data directory, kept there) and JWT helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from datev_emulator.store import atomic_write

KEY_FILE = "signing-key.json"


class Signer:
    def __init__(self, data_dir: Path) -> None:
        path = data_dir / KEY_FILE
        if path.exists():
            self.key = RSAKey.import_key(json.loads(path.read_text("utf-8")))
        else:
            self.key = RSAKey.generate_key(2048, private=True)
            self.key.ensure_kid()
            atomic_write(path, json.dumps(self.key.as_dict(private=True)).encode(), mode=0o600)
        self.kid: str = str(self.key.kid)

    def jwks(self) -> dict[str, Any]:
        public = self.key.as_dict(private=False)
        public.update({"use": "sig", "alg": "RS256", "kid": self.kid})
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": self.kid}, claims, self.key)

    def verify(self, token: str) -> dict[str, Any] | None:
        """Signature check only; expiry is checked by the caller on the emulator clock."""
        try:
            return dict(jwt.decode(token, self.key, algorithms=["RS256"]).claims)
        except (JoseError, ValueError):
            return None
