"""`WriteBatcher`: what concurrent callers submit together is sent as one batch, each caller
gets the answer for its own item, and a failure reaches exactly the callers it concerns."""

from __future__ import annotations

import asyncio

import pytest

from shared_code.concurrency import WriteBatcher


async def test_items_submitted_together_go_out_as_one_batch_in_order():
    batches: list[list[int]] = []

    async def send(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        return [i * 10 for i in items]

    batcher = WriteBatcher(send)
    answers = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert answers == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]


async def test_items_arriving_while_batches_are_out_wait_for_the_next_batch():
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def send(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await release.wait()
        return list(items)

    batcher = WriteBatcher(send, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    assert batches == [[1]]  # nothing more goes out while the one batch allowed is out
    release.set()
    assert await asyncio.gather(first, *later) == [1, 2, 3]
    assert batches == [[1], [2, 3]]


async def test_an_item_answered_with_an_error_raises_it_to_its_caller_only():
    async def send(items: list[int]) -> list[int | Exception]:
        return [ValueError(f"bad {i}") if i == 2 else i for i in items]

    batcher = WriteBatcher(send)
    one, two, three = (asyncio.ensure_future(batcher.submit(i)) for i in (1, 2, 3))
    assert await one == 1 and await three == 3
    with pytest.raises(ValueError, match="bad 2"):
        await two


async def test_a_failed_send_reaches_every_caller_of_its_batch_and_the_next_batch_still_goes():
    calls = 0

    async def send(items: list[int]) -> list[int | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("down")
        return list(items)

    batcher = WriteBatcher(send)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in (1, 2)), return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes)
    assert await batcher.submit(3) == 3


@pytest.mark.parametrize("size", [1, 3])
async def test_batches_hold_at_most_max_batch_items(size):
    batches: list[list[int]] = []

    async def send(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await asyncio.sleep(0)
        return list(items)

    batcher = WriteBatcher(send, max_batch=size)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(7))) == list(range(7))
    assert all(len(b) <= size for b in batches) and sum(map(len, batches)) == 7
