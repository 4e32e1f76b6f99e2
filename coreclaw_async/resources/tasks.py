"""``client.tasks``: start runs of saved Tasks."""

from __future__ import annotations

from .. import _v1
from .._validation import require_callback_url, require_slug
from ..models.tasks import TaskRun, TaskRunRequest
from ._base import Resource

__all__ = ["AsyncTasks"]


class AsyncTasks(Resource):
    """Saved Tasks: a Worker plus a preset input, started by slug."""

    __slots__ = ()

    def prepare(self, task: str | TaskRunRequest, *, callback_url: str | None = None) -> TaskRunRequest:
        """Validate ``task`` and fill in the callback URL, without sending anything.

        The callback URL is the first of: the request's own, ``callback_url``, the
        client's default. Raises ``InvalidParameterError`` naming the bad field.
        """
        if isinstance(task, TaskRunRequest):
            slug, own_url = task.task_slug, task.callback_url
        else:
            slug, own_url = task, None
        require_slug("task_slug", slug)
        url = own_url or callback_url or self._callback_url
        require_callback_url("callback_url", url)
        if isinstance(task, TaskRunRequest) and own_url == url:
            return task
        return TaskRunRequest(task_slug=slug, callback_url=url)

    async def run(
        self,
        task_slug: str | TaskRunRequest,
        *,
        callback_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> TaskRun:
        """Start a run of the saved Task ``task_slug`` and return it (``POST /api/v1/task/run``).

        CoreClaw requires a callback URL; ``callback_url`` falls back to the client's.
        The start is retried only when nothing can have been created (not sent, rate
        limited); if it was sent and no verdict came back, ``RunStartUnknownError`` is
        raised and it is not re-sent.

        Raises:
            InvalidParameterError: blank slug or missing/invalid callback URL (nothing sent).
            TaskNotFoundError, AuthenticationError, RateLimitError, InsufficientBalanceError,
            ...: the server refused the start (see ``coreclaw_async.errors``).
            RunStartUnknownError: sent, outcome unknown.

        Example::

            run = await client.tasks.run("01KSFDXRNYGKT3NNE11EMR4W5X")
            print(run.run_slug)
        """
        request = self.prepare(task_slug, callback_url=callback_url)
        return await self._session.call(_v1.TASK_RUN, request, timeout=timeout, max_retries=max_retries)
