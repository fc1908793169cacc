"""Pause, step and slow down a training run, so that a room can watch a network learn.

A `Pace` sits between the trainer's batches. The trainer calls `wait()` before each batch; it
returns when that batch may run: at once when running free; at a demo pace, when the batch's
turn comes (`batches_per_second`); while paused, only after `resume()`, a step, or `release()`
(the run is stopping). Nothing else changes: a run paused and resumed computes exactly what it
would have computed without the pause, because waiting happens between batches and touches no
state the batches use.

The same few words control a run from every place: `Pace.command("pause")`, "resume",
"step 1" (batches), "step epoch", "pace 10" (batches a second) or "pace off". The job registry
passes them to a trainer in a thread, or as a line to a training process (worker.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import ConfigError

MAX_PACE = 1000.0  # batches a second; above this a pace means nothing on any machine
RUNNING, PAUSED = "running", "paused"


def check_pace(value: float | None) -> float | None:
    """A demo pace in batches a second (None: as fast as it goes); ConfigError names what is allowed."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError("pace", f"must be a number of batches a second, or off (got {value!r})") from None
    if not 0 < value <= MAX_PACE:
        raise ConfigError("pace", f"must be more than 0 and at most {MAX_PACE:g} batches a second (got {value:g})")
    return value


def parse_command(text: str) -> tuple[str, int | float | None]:
    """A control line -> (Pace method, its argument), checked: "pause", "resume", "step [N]",
    "step epoch", "pace N", "pace off". ConfigError names what is allowed."""
    word, _, argument = text.strip().partition(" ")
    argument = argument.strip()
    if word in ("pause", "resume") and not argument:
        return word, None
    if word == "step" and argument == "epoch":
        return "step_epoch", None
    if word == "step":
        try:
            batches = int(argument or "1")
        except ValueError:
            raise ConfigError("step", f"must be a number of batches or 'epoch' (got {argument!r})") from None
        if batches < 1:
            raise ConfigError("step", f"must be at least 1 batch (got {batches})")
        return "step", batches
    if word == "pace":
        return "set_rate", None if argument in ("", "off") else check_pace(argument)
    raise ConfigError("command", f"must be pause, resume, step [N|epoch] or pace N|off (got {text!r})")


class Pace:
    """Thread-safe: the trainer waits in one thread, a page or the command line controls from another."""

    def __init__(self, batches_per_second: float | None = None, paused: bool = False):
        self._cond = threading.Condition()
        self._rate = check_pace(batches_per_second)
        self._paused = paused
        self._allowed = 0  # batches that may run while paused (a step)
        self._epoch_step = False  # a step to the end of the current epoch
        self._released = False
        self._next = 0.0  # when the next batch is due at a demo pace (perf_counter seconds)

    # --- control, from any thread ------------------------------------------------------------
    @property
    def state(self) -> str:
        return PAUSED if self._paused and not self._allowed and not self._epoch_step else RUNNING

    @property
    def batches_per_second(self) -> float | None:
        return self._rate

    def pause(self) -> None:
        with self._cond:
            self._paused, self._allowed, self._epoch_step = True, 0, False
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._allowed, self._epoch_step = False, 0, False
            self._cond.notify_all()

    def step(self, batches: int = 1) -> None:
        """Run `batches` more batches, then stay paused (pauses first if running)."""
        if batches < 1:
            raise ConfigError("step", f"must be at least 1 batch (got {batches})")
        with self._cond:
            self._paused, self._allowed = True, self._allowed + batches
            self._cond.notify_all()

    def step_epoch(self) -> None:
        """Run to the end of the current epoch (a whole epoch from its start), then stay paused."""
        with self._cond:
            self._paused, self._epoch_step = True, True
            self._cond.notify_all()

    def set_rate(self, batches_per_second: float | None) -> None:
        with self._cond:
            self._rate = check_pace(batches_per_second)
            self._next = 0.0
            self._cond.notify_all()

    def release(self) -> None:
        """Let every wait return now, for good: the run is stopping."""
        with self._cond:
            self._released = True
            self._cond.notify_all()

    def command(self, text: str) -> None:
        """One control word (see parse_command); ConfigError, in words, for one it does not know."""
        action, value = parse_command(text)
        if action in ("pause", "resume", "step_epoch"):
            getattr(self, action)()
        else:
            getattr(self, action)(value)

    # --- the trainer's side ------------------------------------------------------------------
    def wait(self, on_pause: Callable[[], None] | None = None) -> float:
        """Block until the next batch may run. Returns the seconds spent paused (not the demo
        pace's waits), which do not count as training time. `on_pause` is called once when a
        pause begins, so the trainer can say so."""
        paused_for = 0.0
        with self._cond:
            if self._paused and not self._allowed and not self._epoch_step and not self._released:
                if on_pause is not None:
                    on_pause()
                began = time.perf_counter()
                while self._paused and not self._allowed and not self._epoch_step and not self._released:
                    self._cond.wait()
                paused_for = time.perf_counter() - began
                self._next = 0.0  # after a pause the pace starts again from now
            if self._allowed:
                self._allowed -= 1
            while self._rate and not self._released:
                now = time.perf_counter()
                if self._next <= now:
                    self._next = max(self._next + 1 / self._rate, now)
                    break
                self._cond.wait(self._next - now)
                if self._paused and not self._allowed and not self._epoch_step:
                    break  # paused while waiting for its turn: the next wait() holds it
        return paused_for

    def epoch_ended(self) -> None:
        """The trainer finished an epoch: a step to the epoch's end is done."""
        with self._cond:
            self._epoch_step = False
