"""The baseline of ``bench/resolve.py``: a raw nats-py responder replying a fixed payload.

Run as ``python -m bench._resolve_echo <nats-url> <subject> <reply-size>``; it
prints ``ready`` once subscribed and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys

import nats
from nats.aio.msg import Msg


async def main(url: str, subject: str, size: int) -> None:
    nc = await nats.connect(url)
    payload = b"x" * size

    async def echo(msg: Msg) -> None:
        await nc.publish(msg.reply, payload)

    await nc.subscribe(subject, queue="bench-echo", cb=echo)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
