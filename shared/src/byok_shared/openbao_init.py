"""compose's OpenBao init job and unsealer: the same code as ``make run``'s embedded OpenBao.

python -m byok_shared.openbao_init provision --addr URL --state DIR --token-file PATH
    first run: initialise (one unseal key, written 0600 under DIR), unseal, enable
    transit, create the derived key, write key-vault's policy and token (PATH, 0600),
    revoke the root token. Later runs: unseal and check; idempotent.
python -m byok_shared.openbao_init watch --addr URL --state DIR [--every SECONDS]
    keep it unsealed: after an OpenBao restart, unseal with the stored key.
python -m byok_shared.openbao_init status --addr URL
    exit 0 when OpenBao answers unsealed and active (a healthcheck).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .openbao import OpenBao, OpenBaoError, key_vault_policy

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m byok_shared.openbao_init")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("provision", "watch", "status", "policy"):
        sub = commands.add_parser(name)
        if name != "policy":
            sub.add_argument("--addr", required=True, help="OpenBao address, http(s)://host:port")
        if name in ("provision", "watch"):
            sub.add_argument("--state", type=Path, required=True, help="unseal material dir")
        if name in ("provision", "policy"):
            sub.add_argument("--mount", default="transit")
            sub.add_argument("--key", default="byok")
        if name == "provision":
            sub.add_argument("--token-file", type=Path, required=True)
            sub.add_argument("--timeout", type=float, default=120.0)
        if name == "watch":
            sub.add_argument("--every", type=float, default=5.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "policy":
        print(key_vault_policy(args.mount, args.key), end="")
        return 0
    if args.command == "status":
        return 0 if OpenBao(Path("."), address=args.addr).health_code() == 200 else 1
    if args.command == "provision":
        bao = OpenBao(
            args.state,
            address=args.addr,
            token_path=args.token_file,
            mount=args.mount,
            key=args.key,
        )
        bao.provision(args.timeout)
        print(f"openbao: {args.addr} unsealed; key-vault token in {args.token_file}", flush=True)
        return 0
    bao = OpenBao(args.state, address=args.addr)
    while True:
        try:
            if bao.sealed():
                bao.unseal(provision=False)
                print(f"openbao: {args.addr} was sealed; unsealed", flush=True)
        except OpenBaoError as exc:
            print(f"openbao: {exc}", file=sys.stderr, flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
