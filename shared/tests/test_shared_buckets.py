"""The NATS permissions hold what the contract says of the shared buckets: one writer,
read-only readers, and no other service near them (byok_contracts.v1.buckets)."""

from __future__ import annotations

import pytest

from byok_contracts.v1 import SHARED_BUCKETS, SharedBucket
from byok_shared.natsauth import ROLES, allows_publish
from byok_shared.natsgrants import kv_read

SERVICES = ("key-vault", "validator", "resolver", "credit-ledger", "usage-tracker")


@pytest.mark.parametrize("bucket", SHARED_BUCKETS, ids=lambda b: b.name)
def test_writer_writes_readers_only_read_others_never_touch(bucket: SharedBucket) -> None:
    write = f"$KV.{bucket.name}.some.key"
    assert allows_publish(ROLES[bucket.writer], write)
    for service in SERVICES:
        role = ROLES[service]
        granted = [allows_publish(role, g.replace(">", "x")) for g in kv_read(bucket.name)]
        reads = all(granted)
        if service == bucket.writer:
            assert reads, service
        elif service in bucket.readers:
            assert reads, f"{service} reads {bucket.name}"
            assert not allows_publish(role, write), f"{service} may write {bucket.name}"
        else:
            assert not any(granted), f"{service} may read {bucket.name}"
            assert not allows_publish(role, write), f"{service} may write {bucket.name}"
