"""The training process the app starts for each run: `python -m cnn_core.worker`.

Reads one JSON line on stdin (architecture, settings, data set name or path, runs folder, or a
run to resume), trains, and writes JSON lines on stdout: {"type": "event" | "progress" |
"result" | "error", "data": ...}. A later "stop" line on stdin stops the run after the current
batch. Training here runs on the process's main thread, where PyTorch is fastest.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

from .architecture import Architecture
from .datasets import load_dataset
from .runs import Run, RunStore
from .settings import TrainSettings
from .storage import json_safe
from .training import Trainer

PROGRESS_EVERY = 0.25  # seconds between progress snapshots
_out_lock = threading.Lock()


def _send(kind: str, data) -> None:
    with _out_lock:
        sys.stdout.write(json.dumps({"type": kind, "data": json_safe(data)}) + "\n")
        sys.stdout.flush()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        spec = json.loads(sys.stdin.readline())
        dataset = load_dataset(spec["dataset"], allow_download=False)
        on_event = lambda event: _send("event", event)
        if spec.get("resume"):
            trainer = Trainer.resume(Run(spec["resume"]), dataset, on_event=on_event)
        else:
            trainer = Trainer(
                Architecture.from_dict(spec["architecture"]),
                TrainSettings.from_dict(spec["settings"]),
                dataset,
                store=RunStore(spec["runs_dir"]) if spec.get("runs_dir") else None,
                on_event=on_event,
                preset=spec.get("preset"),
            )
    except Exception as error:  # reported to the page as a message; details in the server log
        logging.getLogger(__name__).exception("the training process could not start")
        _send("error", str(error))
        return 1

    def listen() -> None:  # "stop" on stdin, or stdin closed because the app went away
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        trainer.stop()

    done = threading.Event()

    def report() -> None:
        while not done.wait(PROGRESS_EVERY):
            _send("progress", dict(trainer.progress))

    threading.Thread(target=listen, daemon=True).start()
    threading.Thread(target=report, daemon=True).start()
    result = trainer.run()
    done.set()
    _send("progress", dict(trainer.progress))
    _send("result", result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
