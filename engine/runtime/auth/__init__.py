"""Users and sign-in: accounts, argon2id passwords, throttled login and API tokens."""

from __future__ import annotations

from .accounts import (
    AccountError,
    UserInfo,
    account_problems,
    actor_for_user,
    create_user,
    grant,
    list_users,
    revoke,
    set_active,
    set_password,
    unknown_names,
    user_id,
)
from .login import MAX_FAILURES, MAX_FAILURES_PER_IP, WINDOW, LoginResult, verify_login
from .passwords import MIN_PASSWORD_LENGTH, hash_password, password_problem, verify_password
from .tokens import (
    TOKEN_PREFIX,
    TokenInfo,
    actor_for_token,
    create_token,
    hash_token,
    list_tokens,
    revoke_token,
    revoke_tokens,
)

__all__ = [
    "MAX_FAILURES",
    "MAX_FAILURES_PER_IP",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "WINDOW",
    "AccountError",
    "LoginResult",
    "TokenInfo",
    "UserInfo",
    "account_problems",
    "actor_for_token",
    "actor_for_user",
    "create_token",
    "create_user",
    "grant",
    "hash_password",
    "hash_token",
    "list_tokens",
    "list_users",
    "password_problem",
    "revoke",
    "revoke_token",
    "revoke_tokens",
    "set_active",
    "set_password",
    "unknown_names",
    "user_id",
    "verify_login",
    "verify_password",
]
