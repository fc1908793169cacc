"""Background jobs: training runs and data set loads that outlive a page's script run.

The app keeps one JobRegistry per server (Streamlit's st.cache_resource holds it) and reaches a
job by its id, which a browser tab keeps in its URL, so a reloaded tab finds its job again and
two tabs can each run their own. A job runs in a daemon thread and records what happens as
events; pages poll `job.events_since(n)` and `job.progress` without ever blocking on it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from .architecture import Architecture
from .data import Dataset
from .runs import Run, RunStore
from .settings import TrainSettings
from .training import Trainer

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED = "running", "done", "failed"


class Job:
    """One piece of background work. Thread-safe to read from any page while it runs."""

    def __init__(self, kind: str, title: str):
        self.id = secrets.token_hex(4)
        self.kind = kind
        self.title = title
        self.created = time.time()
        self.finished: float | None = None
        self.status = RUNNING
        self.result: Any = None
        self.error: str | None = None
        self.progress: dict[str, Any] = {}
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self.thread: threading.Thread | None = None
        self.trainer: Trainer | None = None  # for training jobs: progress and settings

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def emit(self, event: dict) -> None:
        with self._lock:
            self._events.append(event)

    def events_since(self, start: int = 0) -> list[dict]:
        with self._lock:
            return self._events[start:]

    def stop(self) -> None:
        """Ask the work to end at its next safe point (a training run: after the current batch)."""
        self._stop.set()
        for callback in self._on_stop:
            callback()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()


class JobRegistry:
    """Every job of this server, by id. Keeps the most recent finished jobs, drops older ones."""

    def __init__(self, keep_finished: int = 50):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep_finished = keep_finished

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def jobs(self, kind: str | None = None) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        return sorted((j for j in jobs if kind is None or j.kind == kind), key=lambda j: j.created, reverse=True)

    def start(self, job: Job, work: Callable[[Job], Any]) -> Job:
        def run() -> None:
            try:
                job.result = work(job)
                job.status = DONE
            except Exception as error:  # reported on the page; the traceback goes to the server log
                log.exception("job %s failed", job.id)
                job.error = str(error)
                job.status = FAILED
            finally:
                job.finished = time.time()

        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        job.thread = threading.Thread(target=run, name=f"{job.kind}-{job.id}", daemon=True)
        job.thread.start()
        return job

    def _forget_old(self) -> None:
        finished = sorted((j for j in self._jobs.values() if not j.running), key=lambda j: j.created)
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job.id]

    def start_training(
        self,
        architecture: Architecture,
        settings: TrainSettings,
        dataset: Dataset,
        store: RunStore,
        preset: str | None = None,
    ) -> Job:
        """Check everything now (raising ConfigError / ArchitectureError in the caller's thread, so
        the page can show the message), then train in the background."""
        job = Job("train", f"{architecture.name} on {dataset.name}")
        trainer = Trainer(architecture, settings, dataset, store=store, on_event=job.emit, preset=preset)
        return self._start_trainer(job, trainer)

    def start_resume(self, run: Run, dataset: Dataset) -> Job:
        """Continue a saved run from its last epoch checkpoint, in the background."""
        job = Job("train", f"{run.id} (resumed)")
        return self._start_trainer(job, Trainer.resume(run, dataset, on_event=job.emit))

    def _start_trainer(self, job: Job, trainer: Trainer) -> Job:
        job.trainer = trainer
        job._on_stop.append(trainer.stop)

        def work(job: Job):
            result = trainer.run()
            if result.status == "failed":
                raise RuntimeError(result.message)
            return result

        return self.start(job, work)

    def start_loading(self, name: str, load: Callable[..., Dataset]) -> Job:
        """Load a data set in the background; `load(progress=, should_stop=)` does the work."""
        job = Job("data", name)

        def progress(phase: str, done: int, total: int | None) -> None:
            job.progress = {"phase": phase, "done": done, "total": total}

        return self.start(job, lambda job: load(progress=progress, should_stop=lambda: job.stop_requested))
