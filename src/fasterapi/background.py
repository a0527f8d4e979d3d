"""Background tasks: work to run once the response is ready."""
import inspect

__all__ = ["BackgroundTasks", "BackgroundTask"]


class BackgroundTask:
    """One call, ``func(*args, **kwargs)``; ``func`` may be ``async def``."""

    def __init__(self, func, *args, **kwargs):
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None))

    def run_sync(self):
        """Runs a synchronous task; returns the coroutine of an async one."""
        r = self.func(*self.args, **self.kwargs)
        return r if inspect.iscoroutine(r) else None

    async def __call__(self):
        r = self.func(*self.args, **self.kwargs)
        if inspect.isawaitable(r):
            await r


class BackgroundTasks(BackgroundTask):
    """Declare a ``BackgroundTasks`` parameter and ``add_task(func, *args,
    **kwargs)``: the tasks run in order after the response is built.

    Until the native layer can run code after the response is sent, they
    run in the handler right after the response is complete, before it goes
    out (see docs/migration.md)."""

    def __init__(self, tasks=None):
        self.tasks = list(tasks or [])

    def add_task(self, func, *args, **kwargs) -> None:
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    @property
    def is_async(self):  # noqa: D401
        return any(t.is_async for t in self.tasks)

    @is_async.setter
    def is_async(self, _):
        pass

    async def __call__(self):
        for t in self.tasks:
            await t()
