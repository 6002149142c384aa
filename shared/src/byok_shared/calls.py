"""Every request operation of the v1 contract as a typed :class:`~byok_shared.request.Call`.

Each is checked against :data:`byok_contracts.operations.OPERATIONS` when this module is
imported, so a call whose models drift from the contract table fails at once.
Templated subjects (``resolve.{account}``, ``keys.validate.{replica}``,
``health.{service}``) are sent with ``subject=`` set to the concrete form.
"""

from __future__ import annotations

from byok_contracts import subjects as s
from byok_contracts import v1
from byok_contracts.v1 import ledger

from .request import call

__all__ = [
    "ACCOUNTS_CONFIGURE",
    "HEALTH",
    "KEYS_CONFIGURE",
    "KEYS_LIST",
    "KEYS_PUBLIC_KEY",
    "KEYS_REMOVE",
    "KEYS_REPORT",
    "KEYS_REVOKE",
    "KEYS_ROTATE",
    "KEYS_SET_ENABLED",
    "KEYS_UNSEAL",
    "KEYS_VALIDATE",
    "LEDGER_BALANCE",
    "LEDGER_GRANT",
    "LEDGER_VERIFY",
    "RESOLVE",
    "RESOLVE_FOR",
    "SCOPES_CONFIGURE",
    "USAGE_QUERY",
    "VALIDATOR_PUBLIC_KEY",
]

KEYS_PUBLIC_KEY = call(s.KEYS_PUBLIC_KEY, v1.PublicKeyRequest, v1.PublicKey)
KEYS_CONFIGURE = call(s.KEYS_CONFIGURE, v1.ConfigureKey, v1.KeyConfigured)
KEYS_REMOVE = call(s.KEYS_REMOVE, v1.RemoveKey, v1.KeyRemoved)
KEYS_LIST = call(s.KEYS_LIST, v1.ListKeys, v1.KeyList)
KEYS_SET_ENABLED = call(s.KEYS_SET_ENABLED, v1.SetKeyEnabled, v1.KeyStateChanged)
KEYS_REPORT = call(s.KEYS_REPORT, v1.ReportKey, v1.KeyReportAccepted)
SCOPES_CONFIGURE = call(s.SCOPES_CONFIGURE, v1.ConfigureScope, v1.ScopeSettingsReply)
ACCOUNTS_CONFIGURE = call(s.ACCOUNTS_CONFIGURE, v1.ConfigureAccount, v1.AccountPolicyReply)
RESOLVE = call(s.RESOLVE, v1.Resolve, v1.Resolved)
RESOLVE_FOR = call(f"{s.RESOLVE}.{{account}}", v1.Resolve, v1.Resolved)
USAGE_QUERY = call(s.USAGE_QUERY, v1.QueryUsage, v1.UsageReport)
LEDGER_GRANT = call(s.LEDGER_GRANT, v1.Grant, v1.Granted)
LEDGER_BALANCE = call(s.LEDGER_BALANCE, v1.BalanceRequest, v1.Balance)
LEDGER_VERIFY = call(s.LEDGER_VERIFY, ledger.VerifyLedger, ledger.LedgerVerification)
HEALTH = call(f"{s.PREFIX}.health.{{service}}", v1.HealthRequest, v1.Health)
# internal hops
KEYS_UNSEAL = call(s.INTERNAL_KEYS_UNSEAL, v1.UnsealKey, v1.KeyUnsealed)
KEYS_REVOKE = call(s.INTERNAL_KEYS_REVOKE, v1.RevokeKey, v1.KeyRevoked)
KEYS_ROTATE = call(s.INTERNAL_KEYS_ROTATE, v1.RotateKeys, v1.KeysRotated)
VALIDATOR_PUBLIC_KEY = call(
    s.INTERNAL_VALIDATOR_PUBLIC_KEY, v1.ValidatorPublicKeyRequest, v1.ValidatorPublicKey
)
KEYS_VALIDATE = call(f"{s.KEYS_VALIDATE}.{{replica}}", v1.ValidateKey, v1.KeyValid)
