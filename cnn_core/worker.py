"""The training process the app starts for each run: `python -m cnn_core.worker`.

It first gets ready (imports PyTorch and what its optimizers load on first use; docs/benchmarks.md has the time),
so the app can start one before the user asks for a run and keep it waiting. Then it reads one
JSON line on stdin (architecture, settings, data set name or path, runs folder, or a
run to resume, a demo pace), trains, and writes JSON lines on stdout: {"type": "event" |
"progress" | "result" | "error", "data": ...}. Later lines on stdin control the run: "stop" stops
it after the current batch; "pause", "resume", "step N", "step epoch", "pace N" pace it (pacing.py).
Training here runs on the process's main thread, where PyTorch is fastest.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading

import torch

from .architecture import Architecture
from .datasets import load_dataset
from .errors import CnnCoreError
from .pacing import Pace
from .runs import Run, RunStore
from .settings import TrainSettings
from .storage import json_safe
from .training import TERMINATED, Trainer

PROGRESS_EVERY = 0.25  # seconds between progress snapshots
_out_lock = threading.Lock()


APP_STOPPED = "the app stopped"
_on_app_gone: list = []  # called once the app is gone: the trainer's stop, when there is one


def _send(kind: str, data) -> None:
    with _out_lock:
        try:
            sys.stdout.write(json.dumps({"type": kind, "data": json_safe(data)}) + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # the app went away: nobody to tell, no traceback
            for stop in _on_app_gone:
                stop()


def warm_up() -> None:
    """Pay PyTorch's first-use costs before a run is asked for: the first optimizer built in a
    process imports torch._dynamo, which no later run in this process pays again."""
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warm_up()
    line = sys.stdin.readline()
    if not line.strip():  # the app went away before asking for a run (a spare process)
        return 0
    try:
        spec = json.loads(line)
        dataset = load_dataset(spec["dataset"], allow_download=False)
        on_event = lambda event: _send("event", event)
        if spec.get("resume"):  # as the run's one writer: refused while another process trains it
            trainer = Trainer.resume(Run(spec["resume"]), dataset, on_event=on_event)
            trainer.pace = Pace(spec.get("pace"))
        else:
            trainer = Trainer(
                Architecture.from_dict(spec["architecture"]),
                TrainSettings.from_dict(spec["settings"]),
                dataset,
                store=RunStore(spec["runs_dir"]) if spec.get("runs_dir") else None,
                on_event=on_event,
                preset=spec.get("preset"),
                pace=Pace(spec.get("pace")),
            )
    except Exception as error:  # reported to the page as a message; details in the server log
        logging.getLogger(__name__).exception("the training process could not start")
        _send("error", str(error))
        return 1

    def listen() -> None:  # a line on stdin: the user's Stop, Pause...; stdin closed: the app went away
        for line in sys.stdin:
            try:
                trainer.control(line)
            except CnnCoreError as error:
                logging.getLogger(__name__).warning("ignored %r: %s", line.strip(), error)
            if line.strip() == "stop":
                return
        trainer.stop(interrupted=APP_STOPPED)

    _on_app_gone.append(lambda: trainer.stop(interrupted=APP_STOPPED))
    # SIGTERM (a service manager, `kill`): save like Stop, and end as interrupted, resumable.
    signal.signal(signal.SIGTERM, lambda signum, frame: trainer.stop(interrupted=TERMINATED))

    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY):
            _send("progress", dict(trainer.progress))

    threading.Thread(target=listen, daemon=True).start()
    threading.Thread(target=report, daemon=True).start()
    try:
        result = trainer.run()
    except CnnCoreError as error:  # the run folder cannot be written: the page shows the sentence
        done.set()
        _send("error", str(error))
        return 1
    done.set()
    _send("progress", dict(trainer.progress))
    _send("result", result.to_json())
    return 0


if __name__ == "__main__":
    code = main()
    # Leave without the interpreter's teardown, which ended about one stopped run in three in a
    # C++ abort once the result had been sent ("terminate called without an active exception",
    # exit -6, on the server's log; 0 of 12 with this). Everything a run writes is closed by
    # now: files are written whole and renamed into place.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
