"""``regiongate mirror``: copy container images into the China ECR repositories, verified by digest.

Layers: :mod:`.reference` (image names) and :mod:`.registry` (Docker Registry v2 client) read the source;
:mod:`.targets` writes (ECR via boto3, or another registry) behind the :class:`~.targets.Target` protocol;
:mod:`.copier` plans and copies one image; :mod:`.service` runs a whole command and updates the lock.
"""

from regiongate.mirror.errors import AuthError, DigestMismatchError, MirrorError, RepositoryNotFoundError

__all__ = ["AuthError", "DigestMismatchError", "MirrorError", "RepositoryNotFoundError"]
