"""The NATS permissions hold what the contract says of the shared buckets: its writers
write, its readers only read, and no other role comes near it (byok_contracts.v1.buckets)."""

from __future__ import annotations

import pytest

from byok_contracts.v1 import SHARED_BUCKETS, SharedBucket
from byok_shared.jetstream import all_buckets
from byok_shared.natsauth import ROLES, allows_publish
from byok_shared.natsgrants import kv_stream, read_stream


@pytest.mark.parametrize("bucket", SHARED_BUCKETS, ids=lambda b: b.name)
def test_writers_write_readers_only_read_others_never_touch(bucket: SharedBucket) -> None:
    write = f"$KV.{bucket.name}.some.key"
    # A direct get of an entry: the narrowest read (key-vault lists resolver replicas so).
    gets = [g.replace(">", "x") for g in read_stream(kv_stream(bucket.name))]
    for name, role in ROLES.items():
        granted = [allows_publish(role, g) for g in gets]
        if name in bucket.writers:
            assert allows_publish(role, write), f"{name} writes {bucket.name}"
        elif name in bucket.readers:
            assert all(granted), f"{name} reads {bucket.name}"
            assert not allows_publish(role, write), f"{name} may write {bucket.name}"
        elif name != "operator":  # provisions (creates) every bucket
            assert not any(granted), f"{name} may read {bucket.name}"
            assert not allows_publish(role, write), f"{name} may write {bucket.name}"


def test_every_bucket_two_roles_touch_is_in_the_contract() -> None:
    """Services talk through the contract: a bucket that more than one role may read
    (the operator, who provisions them all, aside) is a shared bucket the contract
    states, with its layout; any other bucket belongs to one role alone."""
    shared = {bucket.name for bucket in SHARED_BUCKETS}
    for bucket in all_buckets():
        gets = [g.replace(">", "x") for g in read_stream(kv_stream(bucket.name))]
        touching = {
            name
            for name, role in ROLES.items()
            if name != "operator" and any(allows_publish(role, g) for g in gets)
        }
        assert len(touching) == 1 or bucket.name in shared, (bucket.name, sorted(touching))
