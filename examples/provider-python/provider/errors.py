"""Errors a plugin returns to the host, and how they travel.

The host classifies a failed call by its gRPC status code alone (adapter.proto,
"Errors"); the message is shown to operators, so never put a secret in it. A call that
refreshed an account's credentials before failing must still hand them back: they ride in
a poolhost.adapter.v1.ErrorDetail packed as a google.protobuf.Any inside a
google.rpc.Status, sent in the "grpc-status-details-bin" trailer. That is what Go's
status.WithDetails does (and Python's grpcio-status, which Debian does not package);
status_details_bin below does it. The Status in the trailer must carry the same code as
the call's status: grpc-go turns a mismatch into INTERNAL.
"""
import email.utils
import math
import time

import grpc
from google.protobuf import duration_pb2

from .wire import adapter_pb2, any_pb2, status_pb2

# The error kinds of the Go SDK (sdk.ErrorKind) and the status code each travels as.
KIND_CODES = {
    "temporary": grpc.StatusCode.UNAVAILABLE,  # retry later
    "permanent": grpc.StatusCode.INVALID_ARGUMENT,  # the input can never succeed
    "reauth_required": grpc.StatusCode.UNAUTHENTICATED,  # the user must reconnect
    "unsupported": grpc.StatusCode.UNIMPLEMENTED,
    "rejected": grpc.StatusCode.PERMISSION_DENIED,  # a webhook's signature is missing or wrong
    "invalid_input": grpc.StatusCode.FAILED_PRECONDITION,  # what the user supplied is not valid
}

# The same kinds as poolhost.adapter.v1.ErrorKind, for IngestWebhookResponse.webhook_error.
KIND_ENUM = {
    "temporary": adapter_pb2.ERROR_KIND_TEMPORARY,
    "permanent": adapter_pb2.ERROR_KIND_PERMANENT,
    "reauth_required": adapter_pb2.ERROR_KIND_REAUTH,
    "unsupported": adapter_pb2.ERROR_KIND_UNSUPPORTED,
    "rejected": adapter_pb2.ERROR_KIND_REJECTED,
    "invalid_input": adapter_pb2.ERROR_KIND_INVALID_INPUT,
}

# Why a webhook was rejected: ErrorDetail.reason's bounded set (anything else is "other").
MISSING_SIGNATURE = "missing_signature"  # no signature (or timestamp) header at all
MALFORMED_SIGNATURE = "malformed_signature"  # a header the scheme cannot read
BAD_SIGNATURE = "bad_signature"  # read, but it does not match
STALE_TIMESTAMP = "stale_timestamp"  # signed too long ago, or in the future

ERROR_DETAIL_TYPE_URL = "type.googleapis.com/poolhost.adapter.v1.ErrorDetail"
RETRY_INFO_TYPE_URL = "type.googleapis.com/google.rpc.RetryInfo"

# The longest wait retry_after_header reports, as Go's sdk.RetryAfterHeader: a provider
# naming next week does not mean it.
MAX_RETRY_AFTER_SECONDS = 24 * 3600


class PluginError(Exception):
    """A classified failure, like the Go SDK's *sdk.Error.

    refreshed_credentials: the account's new credentials (a dict of strings) when the call
    refreshed them before failing; the host stores them, then acts on the kind.
    reason: for a rejected webhook, one of the reasons above; the host logs it with the
    request id and counts rejections by it.
    retry_after_seconds: when the provider said when to come back (a 429's Retry-After,
    see retry_after_header); the host polls the account no sooner, and a connect or
    discover answers 503 with that Retry-After. Go's sdk.RetryAfter.
    next_cursor: for a failed PollReadings whose cursor keeps a ledger of a quota it spent
    (a str, "" included): the request's cursor plus that spending, nothing of what it
    read; the host stores it with the failure. Go's sdk.WithNextCursor.
    """

    def __init__(self, kind, message, refreshed_credentials=None, reason="", retry_after_seconds=0, next_cursor=None):
        if kind not in KIND_CODES:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.refreshed_credentials = refreshed_credentials
        self.reason = reason
        self.retry_after_seconds = retry_after_seconds
        self.next_cursor = next_cursor


def retry_after_header(value, now=None):
    """A Retry-After header value (seconds, or an HTTP date) as seconds from now, at most a
    day; 0 when absent, past or unreadable. Go's sdk.RetryAfterHeader."""
    v = (value or "").strip()
    if not v:
        return 0
    if v.isdigit():
        return min(int(v), MAX_RETRY_AFTER_SECONDS)
    try:
        t = email.utils.parsedate_to_datetime(v).timestamp()
    except (TypeError, ValueError, IndexError):
        return 0
    now = time.time() if now is None else now
    return 0 if t <= now else min(math.ceil(t - now), MAX_RETRY_AFTER_SECONDS)


def temporary(msg, **kw):
    return PluginError("temporary", msg, **kw)


def permanent(msg, **kw):
    return PluginError("permanent", msg, **kw)


def rejected(msg, **kw):
    return PluginError("rejected", msg, **kw)


def invalid_input(msg, **kw):
    return PluginError("invalid_input", msg, **kw)


def unsupported(msg, **kw):
    return PluginError("unsupported", msg, **kw)


def reauth(msg, **kw):
    return PluginError("reauth_required", msg, **kw)


def retry_info(seconds):
    """google.rpc.RetryInfo{retry_delay: Duration} encoded by hand: Debian packages no
    error_details_pb2, and the message is one field (1, length-delimited) holding it."""
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    b = d.SerializeToString()
    return bytes([0x0A, len(b)]) + b  # a Duration encodes in at most 17 bytes: a 1-byte length


def status_details_bin(code, message, refreshed_credentials=None, reason="", retry_after_seconds=0, next_cursor=None):
    """The grpc-status-details-bin trailer: a google.rpc.Status with the call's code and
    message, one Any holding an ErrorDetail (next_cursor set, "" included, unless None)
    and, when retry_after_seconds > 0, one holding a RetryInfo."""
    detail = adapter_pb2.ErrorDetail(reason=reason or "")
    if refreshed_credentials is not None:
        detail.refreshed_credentials.values.update(refreshed_credentials)
    if next_cursor is not None:
        detail.next_cursor = next_cursor
    details = [any_pb2.Any(type_url=ERROR_DETAIL_TYPE_URL, value=detail.SerializeToString())]
    if retry_after_seconds and retry_after_seconds > 0:
        details.append(any_pb2.Any(type_url=RETRY_INFO_TYPE_URL, value=retry_info(retry_after_seconds)))
    return status_pb2.Status(code=code.value[0], message=message, details=details).SerializeToString()


def to_status(err, method):
    """The (code, message, trailer bytes) a failed call answers with. A PluginError keeps
    its kind; anything else (a bug: a TypeError, a KeyError) is INTERNAL, which the host
    treats as temporary, with the exception's message so the operator sees what broke."""
    if isinstance(err, PluginError):
        code, message = KIND_CODES[err.kind], err.message
        return code, message, status_details_bin(code, message, err.refreshed_credentials, err.reason,
                                                 err.retry_after_seconds, err.next_cursor)
    code = grpc.StatusCode.INTERNAL
    message = f"plugin raised in {method}: {type(err).__name__}: {err}"
    return code, message, status_details_bin(code, message)


def to_proto_error(err):
    """A failure reported inside a successful response (IngestWebhook's webhook_error:
    verification succeeded, parsing failed)."""
    if isinstance(err, PluginError):
        return adapter_pb2.Error(kind=KIND_ENUM[err.kind], message=err.message, reason=err.reason or "")
    return adapter_pb2.Error(kind=adapter_pb2.ERROR_KIND_TEMPORARY,
                             message=f"plugin raised in Webhook: {type(err).__name__}: {err}")
