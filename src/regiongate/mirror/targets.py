"""Where images are copied to: a small protocol with two implementations.

- :class:`EcrTarget`: Amazon ECR through boto3's layer API (the China repositories; boto3 resolves the
  ``*.amazonaws.com.cn`` endpoints itself for cn-* regions).
- :class:`RegistryTarget`: any Docker Registry v2 / OCI Distribution registry (used by the tests against a
  loopback ``docker-registry``, and usable for a private in-country registry).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import Protocol

from regiongate.mirror.digest import ACCEPT_MANIFESTS, MANIFEST_TYPES
from regiongate.mirror.errors import AuthError, DigestMismatchError, MirrorError, RepositoryNotFoundError
from regiongate.mirror.registry import RegistryClient

DEFAULT_PART_SIZE = 10 * 1024 * 1024


class Target(Protocol):
    description: str

    def check_repository(self, repository: str) -> None:
        """Raise :class:`RepositoryNotFoundError` / :class:`AuthError` when ``repository`` cannot be pushed to."""

    def tags_immutable(self, repository: str) -> bool:
        """True when a tag, once pushed, cannot be moved to another digest."""

    def missing_blobs(self, repository: str, digests: list[str]) -> set[str]:
        """The subset of ``digests`` the repository does not have yet."""

    def upload_blob(self, repository: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        """Upload one blob; ``chunks`` raises before exhaustion completes if the bytes do not match ``digest``,
        and the upload must not be committed then."""

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag (or digest) resolves to in the repository, None if absent."""

    def get_manifest(self, repository: str, digest: str) -> bytes | None:
        """The stored manifest bytes, None if absent."""

    def put_manifest(self, repository: str, tag: str | None, body: bytes, media_type: str, digest: str) -> None:
        """Store a manifest by digest, and under ``tag`` when given."""


def rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup a byte stream into parts of exactly ``size`` bytes (the last one shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


# -- Amazon ECR --------------------------------------------------------------------------------------

_AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "AuthFailure",
    "MissingAuthenticationToken",
}
_DENIED_CODES = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


class EcrTarget:
    """Amazon ECR in one account and region, reached with one AWS profile."""

    def __init__(self, client, *, region: str, profile: str | None) -> None:
        self.client = client
        self.region = region
        self.profile = profile
        who = f"profile {profile!r}" if profile else "the default AWS credentials"
        self.description = f"ECR in {region} ({who})"
        self._mutability: dict[str, str] = {}

    @classmethod
    def from_profile(cls, *, region: str, profile: str | None) -> EcrTarget:
        import boto3
        import botocore.exceptions

        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound:
            raise AuthError(
                f"AWS profile {profile!r} is not configured. China (aws-cn) accounts have their own credentials: "
                f"create it with `aws configure --profile {profile}` (or `aws configure sso --profile {profile}`) "
                f"using an IAM identity of the China account, then run the command again."
            ) from None
        return cls(session.client("ecr", region_name=region), region=region, profile=profile)

    @contextlib.contextmanager
    def _calls(self, action: str, repository: str, passthrough: tuple[str, ...] = ()) -> Iterator[None]:
        """Map botocore errors to messages that say what to do; codes in ``passthrough`` are re-raised as is."""
        import botocore.exceptions

        profile = f"--profile {self.profile} " if self.profile else ""
        try:
            yield
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError):
            raise AuthError(
                f"no AWS credentials found for {self.description}. Configure the China account's credentials "
                f"(`aws configure {profile}`) or pass --target-profile; check with "
                f"`aws sts get-caller-identity {profile}--region {self.region}`."
            ) from None
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            if code in passthrough:
                raise
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            inner = re.search(r"<Code>(\w+)</Code>\s*<Message>([^<]*)</Message>", message)
            if inner:  # an XML error body given to the JSON protocol (moto's IAM check does this)
                code, message = inner.groups()
            if code in _AUTH_CODES or (status in (401, 403) and code not in _DENIED_CODES):
                raise AuthError(
                    f"{self.description} rejected the credentials ({code}: {message}) during {action} on "
                    f"{repository}. aws-cn needs credentials of a China account, not a global one; check with "
                    f"`aws sts get-caller-identity {profile}--region {self.region}` (expired SSO: `aws sso login {profile}`)."
                ) from None
            if code in _DENIED_CODES:
                raise AuthError(
                    f"{self.description} denied {action} on repository {repository} ({code}: {message}). The identity "
                    f"needs ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, "
                    f"ecr:CompleteLayerUpload, ecr:PutImage, ecr:BatchGetImage and ecr:DescribeRepositories on it."
                ) from None
            if code == "RepositoryNotFoundException":
                raise RepositoryNotFoundError(self._missing_repository(repository, message)) from None
            raise MirrorError(f"{self.description}: {action} on {repository} failed ({code}: {message})") from None
        except botocore.exceptions.EndpointConnectionError as exc:
            raise MirrorError(f"cannot reach the ECR endpoint for {self.region}: {exc}") from None

    def _missing_repository(self, repository: str, detail: str = "") -> str:
        profile = f"--target-profile {self.profile}" if self.profile else "the default AWS credentials"
        return (
            f"ECR repository {repository!r} does not exist in {self.region} for this account"
            f"{f' ({detail})' if detail else ''}. The Cn stack creates it (immutable tags, KMS, scan on push): "
            f"deploy the repositories first (see docs/mirror.md), and check that {profile} "
            f"belongs to the China account that runs the Cn stack."
        )

    def check_repository(self, repository: str) -> None:
        with self._calls("DescribeRepositories", repository):
            answer = self.client.describe_repositories(repositoryNames=[repository])
        self._mutability[repository] = answer["repositories"][0].get("imageTagMutability", "MUTABLE")

    def tags_immutable(self, repository: str) -> bool:
        if repository not in self._mutability:
            self.check_repository(repository)
        return self._mutability[repository].startswith("IMMUTABLE")

    def missing_blobs(self, repository: str, digests: list[str]) -> set[str]:
        missing: set[str] = set()
        for start in range(0, len(digests), 100):
            batch = digests[start : start + 100]
            with self._calls("BatchCheckLayerAvailability", repository):
                answer = self.client.batch_check_layer_availability(repositoryName=repository, layerDigests=batch)
            available = {
                layer["layerDigest"]
                for layer in answer.get("layers", [])
                if layer.get("layerAvailability") == "AVAILABLE"
            }
            missing |= set(batch) - available
        return missing

    def upload_blob(self, repository: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        with self._calls("InitiateLayerUpload", repository):
            upload = self.client.initiate_layer_upload(repositoryName=repository)
        upload_id = upload["uploadId"]
        part_size = int(upload.get("partSize") or DEFAULT_PART_SIZE)
        offset = 0
        for part in rechunk(chunks, part_size):
            with self._calls("UploadLayerPart", repository):
                self.client.upload_layer_part(
                    repositoryName=repository,
                    uploadId=upload_id,
                    partFirstByte=offset,
                    partLastByte=offset + len(part) - 1,
                    layerPartBlob=part,
                )
            offset += len(part)
        # Only reached when the chunk iterator verified the digest.
        import botocore.exceptions

        try:
            with self._calls("CompleteLayerUpload", repository, passthrough=("LayerAlreadyExistsException",)):
                answer = self.client.complete_layer_upload(
                    repositoryName=repository, uploadId=upload_id, layerDigests=[digest]
                )
        except botocore.exceptions.ClientError:
            return  # another push completed the same layer meanwhile
        stored = answer.get("layerDigest")
        if stored != digest:
            raise DigestMismatchError(f"layer stored in ECR {repository}", digest, str(stored))

    def _get_image(self, repository: str, image_id: dict[str, str]) -> dict | None:
        with self._calls("BatchGetImage", repository):
            answer = self.client.batch_get_image(
                repositoryName=repository, imageIds=[image_id], acceptedMediaTypes=list(MANIFEST_TYPES)
            )
        images = answer.get("images") or []
        return images[0] if images else None

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        key = "imageDigest" if reference.startswith("sha256:") else "imageTag"
        image = self._get_image(repository, {key: reference})
        return image["imageId"]["imageDigest"] if image else None

    def get_manifest(self, repository: str, digest: str) -> bytes | None:
        image = self._get_image(repository, {"imageDigest": digest})
        return image["imageManifest"].encode("utf-8") if image else None

    def put_image_call(self, repository: str, tag: str | None, body: bytes, media_type: str, digest: str) -> None:
        kwargs = dict(
            repositoryName=repository,
            imageManifest=body.decode("utf-8"),
            imageManifestMediaType=media_type,
            imageDigest=digest,
        )
        if tag:
            kwargs["imageTag"] = tag
        self.client.put_image(**kwargs)

    def put_manifest(self, repository: str, tag: str | None, body: bytes, media_type: str, digest: str) -> None:
        import botocore.exceptions

        passthrough = (
            "ImageAlreadyExistsException",
            "ImageTagAlreadyExistsException",
            "ImageDigestDoesNotMatchException",
        )
        try:
            with self._calls("PutImage", repository, passthrough=passthrough):
                self.put_image_call(repository, tag, body, media_type, digest)
        except botocore.exceptions.ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code == "ImageAlreadyExistsException":
                return  # same manifest, same tag: nothing to do
            if code == "ImageTagAlreadyExistsException":
                current = self.manifest_digest(repository, tag or "")
                raise MirrorError(
                    f"tag {tag!r} in ECR repository {repository} already points to {current} and the repository's "
                    f"tags are immutable; the source now resolves to {digest}. Mirror it under a new tag "
                    f"(e.g. --source name=registry/repo:<new tag>)."
                ) from None
            if code == "ImageDigestDoesNotMatchException":
                raise DigestMismatchError(
                    f"manifest pushed to ECR {repository}", digest, "a different ECR-computed digest"
                ) from None


# -- Docker Registry v2 / OCI Distribution ------------------------------------------------------------


class RegistryTarget:
    """A registry reached over the Distribution API; repositories are created on first push."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.description = f"registry {client.registry}"

    def check_repository(self, repository: str) -> None:
        # Distribution registries create repositories on push; this only checks that push is allowed.
        self.client.blob_exists(repository, "sha256:" + "0" * 64, push=True)

    def tags_immutable(self, repository: str) -> bool:
        return False

    def missing_blobs(self, repository: str, digests: list[str]) -> set[str]:
        return {d for d in digests if not self.client.blob_exists(repository, d, push=True)}

    def upload_blob(self, repository: str, digest: str, size: int, chunks: Iterable[bytes]) -> None:
        self.client.push_blob(repository, digest, rechunk(chunks, DEFAULT_PART_SIZE))

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        return self.client.head_manifest(repository, reference)

    def get_manifest(self, repository: str, digest: str) -> bytes | None:
        response = self.client.request(
            "GET", f"/v2/{repository}/manifests/{digest}", repository=repository, headers={"Accept": ACCEPT_MANIFESTS}
        )
        body = response.read()
        return body if response.status == 200 else None

    def put_manifest(self, repository: str, tag: str | None, body: bytes, media_type: str, digest: str) -> None:
        stored = self.client.put_manifest(repository, tag or digest, body, media_type)
        if stored and stored != digest:
            raise DigestMismatchError(f"manifest pushed to {self.client.registry}/{repository}", digest, stored)
