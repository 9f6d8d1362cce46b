"""The PostgreSQL side of organisations' provider credentials (``ProviderCredentialStore``): a mixin of
``PostgresStore``. The sealed columns are selected by ``provider_credential`` alone (the gateway's read);
every listing selects the public columns only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from regiongate.store.pooled import run_once
from regiongate.store.provider_credentials import CredentialRecord, SealedSecret, StoredCredential

T = TypeVar("T")
_PUBLIC = "org_id, provider, kind, endpoint, role_arn, created_at, replaced_at, set_by"


def _record(row: Sequence[Any]) -> CredentialRecord:
    return CredentialRecord(
        org_id=row[0],
        provider=row[1],
        kind=row[2],
        endpoint=row[3],
        role_arn=row[4],
        created_at=row[5],
        replaced_at=row[6],
        set_by=row[7],
    )


class PostgresCredentials:
    pool: Any
    _run: Callable[..., Any]

    def put_provider_credential(self, stored: StoredCredential) -> None:
        r, sealed = stored.record, stored.sealed
        run_once(
            self.pool,
            f"INSERT INTO org_provider_credentials ({_PUBLIC}, encrypted_data_key, nonce, ciphertext) "
            "VALUES (:o, :p, :k, :e, :r, :c, :x, :b, :dk, :n, :ct) "
            "ON CONFLICT (org_id, provider) DO UPDATE SET kind = EXCLUDED.kind, endpoint = EXCLUDED.endpoint, "
            "role_arn = EXCLUDED.role_arn, replaced_at = EXCLUDED.replaced_at, set_by = EXCLUDED.set_by, "
            "encrypted_data_key = EXCLUDED.encrypted_data_key, nonce = EXCLUDED.nonce, "
            "ciphertext = EXCLUDED.ciphertext",
            o=r.org_id,
            p=r.provider,
            k=r.kind,
            e=r.endpoint,
            r=r.role_arn,
            c=r.created_at,
            x=r.replaced_at,
            b=r.set_by,
            dk=sealed.encrypted_data_key if sealed else None,
            n=sealed.nonce if sealed else None,
            ct=sealed.ciphertext if sealed else None,
        )

    def provider_credential(self, org_id: str, provider: str) -> StoredCredential | None:
        rows = self._run(
            lambda conn: conn.run(
                f"SELECT {_PUBLIC}, encrypted_data_key, nonce, ciphertext FROM org_provider_credentials "
                "WHERE org_id = :o AND provider = :p",
                o=org_id,
                p=provider,
            )
        )
        if not rows:
            return None
        row = rows[0]
        sealed = SealedSecret(bytes(row[8]), bytes(row[9]), bytes(row[10])) if row[8] is not None else None
        return StoredCredential(record=_record(row), sealed=sealed)

    def list_provider_credentials(self, org_id: str | None = None) -> list[CredentialRecord]:
        rows = self._run(
            lambda conn: conn.run(
                f"SELECT {_PUBLIC} FROM org_provider_credentials WHERE (CAST(:o AS text) IS NULL OR org_id = :o) "
                "ORDER BY org_id, provider",
                o=org_id,
            )
        )
        return [_record(row) for row in rows]

    def delete_provider_credential(self, org_id: str, provider: str) -> bool:
        rows = run_once(
            self.pool,
            "DELETE FROM org_provider_credentials WHERE org_id = :o AND provider = :p RETURNING provider",
            o=org_id,
            p=provider,
        )
        return bool(rows)

    def set_platform_fallback(self, org_id: str, allowed: bool) -> None:
        run_once(
            self.pool,
            "INSERT INTO orgs (org_id, platform_credentials_fallback) VALUES (:o, :a) "
            "ON CONFLICT (org_id) DO UPDATE SET platform_credentials_fallback = EXCLUDED.platform_credentials_fallback",
            o=org_id,
            a=allowed,
        )

    def platform_fallback(self, org_id: str) -> bool:
        rows = self._run(
            lambda conn: conn.run("SELECT platform_credentials_fallback FROM orgs WHERE org_id = :o", o=org_id)
        )
        return bool(rows[0][0]) if rows else True
