"""Background jobs: training runs and data set loads that outlive a page's script run.

The app keeps one JobRegistry per server (Streamlit's st.cache_resource holds it) and reaches a
job by its id, which a browser tab keeps in its URL, so a reloaded tab finds its job again and
two tabs can each run their own. A job records what happens as events; pages poll
`job.events_since(n)` and `job.trainer.progress` without ever blocking on it.

Training can run in a thread of this process, or (processes=True, what the app uses) in a
process of its own: PyTorch trains much slower in a non-main thread here (OpenMP and oneDNN
are at their best on a process's main thread; docs/benchmarks.md), and a separate process also keeps the
web server's Python threads from sharing the interpreter lock with the training loop. The
registry keeps one such process started and ready (PyTorch imported) while no run trains, so
that Start does not wait for it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import events, pacing
from .architecture import Architecture
from .data import Dataset
from .errors import CnnCoreError
from .runs import Run, RunStore
from .settings import TrainSettings
from .training import Plan, Trainer, TrainResult, plan, plan_resume

log = logging.getLogger(__name__)

RUNNING, DONE, FAILED = "running", "done", "failed"
RUN_MEMORY = 1 << 30  # what one training process may take, with room (docs/benchmarks.md measures it)


def training_slots() -> int:
    """How many runs this machine's memory holds at once: three quarters of it, a run each."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4
    return max(1, int(total * 0.75) // RUN_MEMORY)


class Job:
    """One piece of background work. Thread-safe to read from any page while it runs."""

    def __init__(self, kind: str, title: str):
        self.id = secrets.token_hex(4)
        self.kind = kind
        self.title = title
        self.created = time.time()
        self.status = RUNNING
        self.result: Any = None
        self.error: str | None = None
        self.progress: dict[str, Any] = {}  # a data load's phase and count; a training run's events.Progress
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._on_stop: list[Callable[[], None]] = []
        self._control: Callable[[str], None] | None = None  # a training job's pause, step and pace
        self.thread: threading.Thread | None = None
        self.plan: Plan | None = None  # a training job's settings, data and network, checked
        self.run_id: str | None = None  # a training job's run, once its folder exists
        # On a shared server: the hash of the control token of the tab that started it (runs.py).
        self.owner: str | None = None

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def emit(self, event: events.Event) -> None:
        if event["kind"] == events.START and event["run_dir"]:
            self.run_id = Path(event["run_dir"]).name
            if self.owner:
                Run(event["run_dir"]).set_owner(self.owner)  # the run keeps its owner past this server's life
        with self._lock:
            self._events.append(event)

    def set_progress(self, progress: dict) -> None:
        self.progress = progress

    def events_since(self, start: int = 0) -> list[dict]:
        with self._lock:
            return self._events[start:]

    def stop(self) -> None:
        """Ask the work to end at its next safe point (a training run: after the current batch)."""
        self._stop.set()
        for callback in self._on_stop:
            callback()

    def control(self, command: str, wait: float = 0.0) -> None:
        """Pause, resume, step or pace a training job, in pacing.Pace.command's words ("pause",
        "step epoch", "pace 10"...). ConfigError for a word it does not know. With `wait`, a pause
        or resume waits up to that many seconds until the run reports it, so a caller that draws
        the state next (a page's Pause button turning into Resume) draws the new one."""
        if self._control is not None and self.running:
            pacing.parse_command(command)  # refuse a bad command here, in the caller's thread
            self._control(command)
            if command in ("pause", "resume"):
                deadline = time.monotonic() + wait
                while self.running and self.paused != (command == "pause") and time.monotonic() < deadline:
                    time.sleep(0.02)

    @property
    def paused(self) -> bool:
        return self.running and self.progress.get("status") == pacing.PAUSED

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()


class JobRegistry:
    """Every job of this server, by id. Keeps the most recent finished jobs, drops older ones."""

    def __init__(self, keep_finished: int = 50, processes: bool = False, max_training: int | None = None):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep_finished = keep_finished
        self.processes = processes
        self.max_training = max_training or training_slots()
        self._spare: subprocess.Popen | None = None  # a training process, ready and waiting for a run

    def warm_worker(self, finishing: Job | None = None) -> None:
        """Start a training process now, if none is waiting, so that the next run does not wait
        for one: it imports PyTorch and gets ready while the user looks around (Start to the
        first batch in a fraction of the time; docs/benchmarks.md). The app calls this after
        every page; it costs nothing when one is already waiting, and does nothing while a run
        trains (`finishing`, a run that is ending, aside): getting ready takes a core for about
        a couple of seconds, which that run would lose. No-op without processes."""
        if not self.processes:
            return
        with self._lock:
            training = any(
                j.running and j.kind in ("train", "sweep") and j is not finishing for j in self._jobs.values()
            )
            if not training and (self._spare is None or self._spare.poll() is not None):
                self._spare = _start_worker()

    def _take_worker(self) -> subprocess.Popen:
        with self._lock:
            spare, self._spare = self._spare, None
        return spare if spare is not None and spare.poll() is None else _start_worker()

    def close(self) -> None:
        """End the waiting training process, if any (running jobs are left to finish)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.stdin.close()  # it reads end-of-input and exits
            spare.wait(timeout=30)

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
            except CnnCoreError as error:  # the user's to fix: the page says it; one line in the log
                log.warning("job %s refused: %s", job.id, error)
                job.error = str(error)
                job.status = FAILED
            except Exception as error:  # reported on the page; the traceback goes to the server log
                log.exception("job %s failed", job.id)
                job.error = str(error)
                job.status = FAILED

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
        owner: str | None = None,
        pace: float | None = None,
    ) -> Job:
        """Check everything now (raising ConfigError / ArchitectureError in the caller's thread, so
        the page can show the message), then train in the background."""
        job = Job("train", f"{architecture.name} on {dataset.name}")
        job.owner = owner
        self._check_room()
        if self.processes and dataset.source:
            return self._start_process(job, plan(architecture, settings, dataset, preset=preset), store, pace=pace)
        trainer = Trainer(
            architecture,
            settings,
            dataset,
            store=store,
            on_event=job.emit,
            on_progress=job.set_progress,
            preset=preset,
            pace=pacing.Pace(pace),
        )
        return self._start_thread(job, trainer)

    def _check_room(self) -> None:
        """Refuse a run past what this machine's memory holds (each run needs about RUN_MEMORY)."""
        training = sum(j.running for j in self.jobs("train"))
        if training >= self.max_training:
            raise CnnCoreError(
                f"{training} {'runs are' if training != 1 else 'run is'} training already, the most this machine's "
                "memory allows at once "
                f"(about {RUN_MEMORY / 2**30:.0f} GB each); wait for one to end or stop one"
            )

    def start_resume(self, run: Run, dataset: Dataset, owner: str | None = None) -> Job:
        """Continue a saved run from its last epoch checkpoint, in the background."""
        job = Job("train", f"{run.id} (resumed)")
        job.owner = owner
        self._check_room()
        if self.processes and dataset.source:  # the training process takes the run's lock
            return self._start_process(job, plan_resume(run, dataset)[0], store=None, resume=run)
        trainer = Trainer.resume(run, dataset, on_event=job.emit, on_progress=job.set_progress)
        return self._start_thread(job, trainer)

    def _start_thread(self, job: Job, trainer: Trainer) -> Job:
        job.plan = trainer.plan
        job._on_stop.append(trainer.stop)
        job._control = trainer.control

        def work(job: Job) -> TrainResult:
            result = trainer.run()
            if result.status == "failed":
                raise RuntimeError(result.message)
            return result

        return self.start(job, work)

    def _start_process(
        self,
        job: Job,
        checked: Plan,
        store: RunStore | None = None,
        resume: Run | None = None,
        pace: float | None = None,
    ) -> Job:
        job.plan = checked

        def work(job: Job) -> TrainResult:
            try:
                return _train_in_process(job, checked, store, resume, self._take_worker(), pace)
            finally:
                self.warm_worker(finishing=job)  # for the next run, now that this one is done

        return self.start(job, work)

    def start_sweep(self, name: str, storage: str, runs_dir: str | os.PathLike, owner: str | None = None) -> Job:
        """Work on sweep `name` (made already: sweeps.Sweep.open) in a process of its own, as another
        machine would: `python -m cnn_core sweep --study NAME --json`. Each finished trial comes back
        as an event {"kind": "trial", ...}; Stop interrupts the trial in progress, and the sweep can
        be continued later. The trials themselves are read from the study by whoever shows them."""
        job = Job("sweep", name)
        job.owner = owner

        def work(job: Job) -> dict | None:
            args = ["sweep", "--study", name, "--storage", storage, "--runs-dir", str(runs_dir), "--json"]
            with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: it never fills and blocks
                child = subprocess.Popen(
                    [sys.executable, "-m", "cnn_core", *args], stdout=subprocess.PIPE, stderr=errors, text=True
                )
                asked = []  # one interrupt per sweep: more would cut its saving short

                def interrupt() -> None:
                    if not asked and child.poll() is None:
                        asked.append(True)
                        child.send_signal(signal.SIGINT)

                job._on_stop.append(interrupt)
                summary = None
                for line in child.stdout:
                    data = json.loads(line)
                    if "planned" in data:
                        summary = data
                    else:
                        job.emit({"kind": "trial", **data})
                code = child.wait()
                if code not in (0, 130) and not job.stop_requested:
                    errors.seek(0)
                    lines = [text.strip() for text in errors.read().splitlines() if text.strip()]
                    raise CnnCoreError(
                        (lines[-1] if lines else f"the sweep ended with code {code}").removeprefix("error: ")
                    )
            return summary

        return self.start(job, work)

    def start_loading(self, name: str, load: Callable[..., Dataset]) -> Job:
        """Load a data set in the background; `load(progress=, should_stop=)` does the work."""
        job = Job("data", name)

        def progress(phase: str, done: int, total: int | None) -> None:
            job.progress = {"phase": phase, "done": done, "total": total}

        return self.start(job, lambda job: load(progress=progress, should_stop=lambda: job.stop_requested))


# --- training in a process of its own -----------------------------------------------------------------
def _start_worker() -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnn_core.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def _train_in_process(
    job: Job, checked: Plan, store: RunStore | None, resume: Run | None, child: subprocess.Popen, pace: float | None
) -> TrainResult:
    """Run the `checked` plan in `child`, a training process (`python -m cnn_core.worker`), and relay its events.

    The child builds its trainer from plain values (settings, architecture, the data set's name
    or path) sent as one JSON line; it answers with JSON lines on its stdout, and a "stop" line on
    its stdin asks it to stop. Its log goes to this process's stderr."""
    spec = {
        "architecture": checked.architecture.to_dict(),
        "settings": checked.settings.to_dict(),
        "dataset": checked.dataset.source,
        "runs_dir": str(store.root) if store is not None else None,
        "preset": checked.preset,
        "resume": str(resume.path) if resume is not None else None,
        "pace": pace,
    }

    def tell(command: str) -> None:  # one line on the training process's stdin
        try:
            child.stdin.write(command + "\n")
            child.stdin.flush()
        except (OSError, ValueError):
            pass  # already gone

    job._on_stop.append(lambda: tell("stop"))
    job._control = tell
    child.stdin.write(json.dumps(spec) + "\n")
    child.stdin.flush()
    result = None
    for line in child.stdout:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind, payload = message.get("type"), message.get("data")
        if kind == "event":
            job.emit(payload)
        elif kind == "progress":
            job.set_progress(payload)
        elif kind == "result":
            result = TrainResult.from_json(payload)
        elif kind == "error":  # said for the user; the training process logged any traceback itself
            child.wait(timeout=30)
            raise CnnCoreError(payload)
    child.wait(timeout=60)
    if result is None:
        raise RuntimeError("the training process stopped unexpectedly; the run keeps what it saved")
    if result.status == "failed":
        raise RuntimeError(result.message)
    return result
