"""byok benchmarks (``make bench``). Each module here is one suite with ``async def run(args)``."""
