"""API-key protection of state-changing routes."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

# auto_error=False: these only document the schemes and extract values; the decision (and
# the message) is ours, and with no key configured every request passes.
bearer_scheme = HTTPBearer(auto_error=False, description="Authorization: Bearer <GAN_API_KEY>")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="GAN_API_KEY")


def key_matches(provided: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing does not leak the key prefix."""
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode(), expected.encode())


def check_write_access(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> None:
    """Raise 401 unless the configured API key (if any) came with the request."""
    for header in ("authorization", "x-api-key"):
        # Two credentials in one request: which one counts would depend on the proxy or server
        # that reads them, so none does.
        if len(request.headers.getlist(header)) > 1:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=f"the {header} header is given twice")
    expected = request.app.state.runtime.settings.api_key
    if expected is None:
        return
    secret = expected.get_secret_value()
    offered = [bearer.credentials if bearer is not None else None, api_key]
    # Both are compared (no early exit), keeping the time independent of which one matched.
    results = [key_matches(value, secret) for value in offered]
    if not any(results):
        detail = (
            "invalid API key"
            if any(offered)
            else ("API key required: send Authorization: Bearer <key> or X-API-Key: <key>")
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
        )
