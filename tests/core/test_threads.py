import asyncio
import threading

from kallglot.core.threads import run_to_completion


async def test_a_cancelled_caller_returns_only_after_the_thread_has_finished() -> None:
    started = threading.Event()
    release = threading.Event()
    finished: list[bool] = []

    def blocking_work() -> None:
        started.set()
        release.wait(timeout=60)
        finished.append(True)

    task = asyncio.create_task(run_to_completion(blocking_work))
    await asyncio.to_thread(started.wait, 60)
    task.cancel()
    for _ in range(5):  # loop turns, not time: the cancellation is delivered on the next
        await asyncio.sleep(0)
    assert task.cancelling() == 1
    assert not task.done()  # still waiting for the worker, not orphaning it
    release.set()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert finished == [True]


async def test_the_result_comes_back_when_nobody_cancels() -> None:
    assert await run_to_completion(sum, [1, 2, 3]) == 6
