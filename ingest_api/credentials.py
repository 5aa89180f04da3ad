"""Write keys and read tokens, and the development credentials used when none are set.

Read tokens are scoped (SPEC §6): ``user:<id>`` sees that user's state, ``creator:<id>`` that
creator's videos, ``analyst`` everything.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from ingest_api.errors import RequestRejected


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str  # "user", "creator" or "analyst"
    subject: str | None = None

    def may_read_user(self, user_id: str) -> bool:
        return self.kind == "analyst" or (self.kind == "user" and self.subject == user_id)

    def may_read_creator(self, creator_id: str) -> bool:
        return self.kind == "analyst" or (self.kind == "creator" and self.subject == creator_id)

    @property
    def is_analyst(self) -> bool:
        return self.kind == "analyst"


def parse_scope(text: str) -> Scope:
    text = text.strip()
    if text == "analyst":
        return Scope("analyst")
    kind, sep, subject = text.partition(":")
    if sep and kind in ("user", "creator") and subject:
        return Scope(kind, subject)
    raise ValueError(f"read token scope {text!r} is not user:<id>, creator:<id> or analyst")


def parse_read_tokens(text: str) -> dict[str, Scope]:
    """Parse ``token=scope,token=scope`` (WATCHFLOW_READ_TOKENS)."""
    tokens: dict[str, Scope] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        token, sep, scope = item.partition("=")
        if not sep or not token.strip():
            raise ValueError(f"WATCHFLOW_READ_TOKENS entry {item!r} is not token=scope")
        tokens[token.strip()] = parse_scope(scope)
    return tokens


@dataclass(frozen=True, slots=True)
class Credentials:
    write_keys: frozenset[str]
    read_tokens: dict[str, Scope]

    def check_write(self, authorization: str | None) -> None:
        if bearer(authorization) not in self.write_keys:
            raise RequestRejected(401, "authorization: missing or unknown write key")

    def read_scope(self, authorization: str | None) -> Scope:
        scope = self.read_tokens.get(bearer(authorization) or "")
        if scope is None:
            raise RequestRejected(401, "authorization: missing or unknown read token")
        return scope


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def development_credentials(data_dir: Path) -> tuple[str, str]:
    """A write key and an analyst token kept in ``data_dir``, made once, stable across runs."""
    path = data_dir / "dev-credentials.json"
    if path.exists():
        saved = json.loads(path.read_text())
        return str(saved["write_key"]), str(saved["read_token"])
    data_dir.mkdir(parents=True, exist_ok=True)
    write_key = "wk_dev_" + secrets.token_urlsafe(16)
    read_token = "rt_dev_" + secrets.token_urlsafe(16)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"write_key": write_key, "read_token": read_token}))
    tmp.chmod(0o600)
    tmp.replace(path)
    return write_key, read_token
