"""The S3 calls of a publish, through boto3, and the messages for what can go wrong with them.

Only this module imports boto3 (the ``staticwrap[s3]`` extra). Every failure
the store reports becomes a :class:`PublishError` that says what to fix:
credentials, the bucket's name, a permission, the endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any
from urllib.parse import urlsplit

from staticwrap.errors import ConfigurationError, StaticwrapError

from .plan import Upload

INSTALL_HINT = "pip install 'staticwrap[s3]'"


class PublishError(StaticwrapError):
    """The store refused or could not be reached; the message names the cause and the fix."""


def parse_location(url: str) -> tuple[str, str]:
    """The bucket and the key prefix (``""`` or ending in ``/``) of ``s3://bucket/prefix/``."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError.bad_value(
            "url", url, "give the destination as s3://BUCKET/PREFIX/ (such as s3://my-site/static/)"
        )
    prefix = parts.path.strip("/")
    if any(part in {"", ".", ".."} for part in prefix.split("/")) and prefix:
        raise ConfigurationError.bad_value("url", url, "a key prefix cannot contain '//', '.' or '..' segments")
    return parts.netloc, f"{prefix}/" if prefix else ""


def make_client(*, endpoint_url: str | None, region: str | None, jobs: int) -> Any:
    """A boto3 S3 client; credentials come from boto3's usual chain (environment, profile, role).

    boto3 1.36 began to send a CRC32 checksum with every upload, in a form
    (``aws-chunked`` with a trailer) that many S3-compatible stores refuse;
    it is asked for only where an operation requires one
    (``when_required``). staticwrap sends its own SHA-256 with each object
    instead, as a plain header that such stores accept.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigurationError(f"publishing needs boto3, which is not installed: {INSTALL_HINT}") from None
    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        max_pool_connections=max(10, jobs),
        retries={"mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


class Store:
    """The bucket and prefix one publish writes to, through ``client``."""

    def __init__(self, client: Any, bucket: str, prefix: str, *, checksum: bool = True) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.checksum = checksum
        #: False once the store answered a conditional write with 501: it
        #: does not implement them, so writes go unconditional.
        self.conditional = True
        self._lock = threading.Lock()
        self.verified = 0

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def read(self, key: str) -> bytes | None:
        """The bytes of ``key``, or ``None`` when the store has no such object."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
            with response["Body"] as body:
                data: bytes = body.read()
            return data
        except Exception as error:
            if _code(error) in {"NoSuchKey", "404"}:
                return None
            raise self.error(error, "s3:GetObject", key) from None

    def put(self, upload: Upload) -> bool:
        """Store ``upload``; returns False when a conditional write found the same object there."""
        conditional = upload.conditional and self.conditional
        try:
            self._put(upload, conditional)
            return True
        except Exception as error:
            code = _code(error)
            if conditional and code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                # A hashed key is there already (an interrupted publish, or
                # another one at the same time): kept if its bytes and
                # fields are these, else replaced.
                if self._holds(upload):
                    with self._lock:
                        self.verified += 1
                    return False
            elif conditional and code in {"NotImplemented", "501"}:
                with self._lock:
                    self.conditional = False
            else:
                raise self.error(error, "s3:PutObject", upload.key) from None
        try:
            self._put(upload, False)
        except Exception as error:
            raise self.error(error, "s3:PutObject", upload.key) from None
        return True

    def delete(self, key: str) -> None:
        """Delete ``key`` (a missing one is no error: S3 answers 204 either way).

        One DeleteObject per key, not DeleteObjects: that one requires a
        Content-MD5 or checksum that stores disagree on.
        """
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as error:
            raise self.error(error, "s3:DeleteObject", key) from None

    def _put(self, upload: Upload, conditional: bool) -> None:
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": self.prefix + upload.key,
            **upload.fields.parameters,
            "Metadata": dict(upload.fields.metadata),
        }
        if self.checksum:
            # The store computes the SHA-256 of what it received and refuses
            # the object if it differs (BadDigest): no corrupt object is kept.
            arguments["ChecksumSHA256"] = upload.sha256
        if conditional:
            arguments["IfNoneMatch"] = "*"
        if upload.body is not None:
            self.client.put_object(Body=upload.body, **arguments)
            return
        assert upload.path is not None
        with open(upload.path, "rb") as file:
            self.client.put_object(Body=file, **arguments)

    def _holds(self, upload: Upload) -> bool:
        """Whether the store's object at ``upload.key`` has its bytes and fields (read whole to be sure)."""
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + upload.key)
            with response["Body"] as body:
                digest = hashlib.sha256()
                while chunk := body.read(1024 * 1024):
                    digest.update(chunk)
        except Exception as error:
            raise self.error(error, "s3:GetObject", upload.key) from None
        if base64.b64encode(digest.digest()).decode("ascii") != upload.sha256:
            return False
        stored = {name: response.get(name) for name in upload.fields.parameters}
        metadata = {name.lower(): value for name, value in response.get("Metadata", {}).items()}
        return stored == dict(upload.fields.parameters) and metadata == dict(upload.fields.metadata)

    def error(self, error: Exception, action: str, key: str) -> PublishError:
        """``error``, from boto3 or botocore, as a :class:`PublishError` naming the fix."""
        return PublishError(describe(error, action, self.bucket, self.prefix + key, self.client))


def describe(error: Exception, action: str, bucket: str, key: str, client: Any) -> str:
    """The message of a failed request: what happened, to what, and the fix."""
    code = _code(error)
    endpoint = getattr(getattr(client, "meta", None), "endpoint_url", "the endpoint")
    target = f"s3://{bucket}/{key}"
    name = type(error).__name__
    if name in {"NoCredentialsError", "PartialCredentialsError"}:
        return (
            f"no credentials for {target}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), "
            "as for the aws command"
        )
    if name in {"EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectionClosedError"}:
        return f"cannot reach {endpoint} ({error}): check --endpoint-url and that the store is up"
    if code in {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
    }:
        return (
            f"{endpoint} refused the credentials ({code}) for {target}: check AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and --region"
        )
    if code == "NoSuchBucket":
        return f"there is no bucket {bucket!r} at {endpoint}: create it, or correct the bucket in the destination URL"
    if code in {"AccessDenied", "403", "AllAccessDisabled"}:
        return (
            f"permission refused for {action} on {target} ({code}): grant s3:GetObject, s3:PutObject and "
            f"s3:DeleteObject on arn:aws:s3:::{bucket}/*, and s3:ListBucket on arn:aws:s3:::{bucket}, to these "
            # Without s3:ListBucket, AWS answers a read of a missing key (the
            # manifest, on a first publish) with 403, not 404 (GetObject's API reference).
            "credentials"
        )
    if code in {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}:
        return f"{endpoint} found the bytes of {target} damaged in transit ({code}): publish again"
    if code in {"InvalidRequest", "InvalidArgument", "NotImplemented"}:
        return (
            f"{endpoint} refused {action} on {target} ({code}: {error}): a store that does not take "
            "x-amz-checksum-sha256 needs --no-checksum"
        )
    return f"{action} on {target} failed: {error}"


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
