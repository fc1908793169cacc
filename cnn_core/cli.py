"""The command line: `python -m cnn_core train|sweep|shapes|presets|runs`.

`train` prints the tutorial's log (or, with --json, one JSON object) and exits with
0 for a completed run, 2 for invalid input (one line on stderr naming the option), 3 for a run that
diverged, 130 for a run stopped with Ctrl-C, 1 for a failure inside training.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from . import expectations
from .architecture import Architecture
from .datasets import DEFAULT, DESCRIPTIONS, catalog, data_dir, list_imports, load_dataset
from .errors import ArchitectureError, CnnCoreError, ConfigError
from .pacing import Pace
from .presets import ALIASES, PRESETS, get_preset
from .runs import COMPLETED, DAMAGED, DIVERGED, INTERRUPTED, STOPPED, RunStore, default_root
from .settings import FLAG, SCHEMA, SETTINGS, TrainSettings, markdown_table
from .shapes import infer_shapes
from .sweeps import STRATEGIES, SWEEPABLE
from .textlog import event_lines, header_lines

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_DIVERGED, EXIT_STOPPED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143
MAX_ARCH_FILE = 1_000_000  # bytes; an architecture is a few hundred


def option_name(field: str) -> str:
    """The command-line option of a settings field (from the schema), or --<field> for others."""
    return SETTINGS[field].cli_option if field in SETTINGS else "--" + field.replace("_", "-")


class InputError(Exception):
    """Invalid input from the command line: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise InputError(message)


def _number(text: str) -> Any:
    """Numbers become numbers; anything else stays text for the settings check to name."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _help(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help strings with %


def _add_setting_options(parser: argparse.ArgumentParser) -> None:
    """One option per setting of the schema (settings.SCHEMA): every setting, nothing by hand."""
    for setting in SCHEMA:
        text = _help(setting.help) + (f" One of: {', '.join(setting.choices)}." if setting.choices else "")
        if setting.kind == FLAG:
            parser.add_argument(
                setting.cli_option,
                dest=setting.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text + " (default: the preset's)",
            )
        else:
            parser.add_argument(
                setting.cli_option,
                dest=setting.name,
                metavar=setting.metavar,
                type=_number,
                default=None,
                help=text + " (default: the preset's)",
            )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m cnn_core",
        description="Train, size and inspect small CNNs on CIFAR-10-like data (the dashboard's library).",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train",
        help="train a network and print the tutorial's log",
        description="Train a network. Defaults are the tutorial's: SimpleCNN, batch 32, 5 epochs, Adam, "
        "learning rate 0.001, seed 42, 20,000 / 5,000 / 5,000 images (clamped to what the data holds).",
    )
    _add_model_options(train)
    _add_setting_options(train)
    train.add_argument(
        "--runs-dir",
        default=None,
        metavar="DIR",
        help=f"Folder where the run is saved (default: $CNN_RUNS_DIR or {default_root()})",
    )
    train.add_argument("--no-save", action="store_true", help="Do not save the run.")
    train.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="Continue this saved run (its folder name in the runs folder) from its last completed epoch, "
        "with its own settings and data set.",
    )
    train.add_argument(
        "--pace",
        type=float,
        default=None,
        metavar="N",
        help="Train at most N batches a second, so that people can watch it learn (a demo pace; "
        "the result is the same as at full speed).",
    )
    train.add_argument("--json", action="store_true", help="Print one JSON object with the results instead of the log.")
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="Check that everything works: one epoch of three batches on a few images, not saved.",
    )

    shapes = commands.add_parser("shapes", help="print each layer's output shape, parameters and multiply-adds")
    _add_model_options(shapes)

    commands.add_parser("presets", help="list the presets")
    commands.add_parser("settings", help="every training setting as a Markdown table (the README's)")

    datasets = commands.add_parser("datasets", help="list the built-in data sets and whether they are ready")
    datasets.add_argument("--data-dir", default=None, metavar="DIR", help="Folder for downloads and caches.")

    bench = commands.add_parser(
        "bench",
        help="time the tutorial's pipeline against cnn_core's trainer on the same images",
        description="Runs the tutorial's reference pipeline (PIL transforms, DataLoader with 2 workers) and "
        "cnn_core's trainer, alternating, at batch 32 and 128 with the tutorial's other settings, and prints "
        "images per second (median of epochs), validation and test accuracy, peak memory and the speed ratio "
        "(median of the rounds' ratios).",
    )
    bench.add_argument(
        "--dataset",
        default=DEFAULT,
        metavar="NAME|PATH",
        help="Data set to train on (default: %(default)s; the full CIFAR-10 archive for real figures).",
    )
    bench.add_argument("--data-dir", default=None, metavar="DIR", help="Folder for downloads, caches and imports.")
    bench.add_argument("--epochs", type=int, default=5, help="Epochs per run (default: the tutorial's 5).")
    bench.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[32, 128],
        metavar="N",
        help="Batch sizes to compare (default: 32 128).",
    )
    bench.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="N",
        help="Times each pair of runs is repeated at each batch size (default: %(default)s).",
    )
    bench.add_argument(
        "--ablation",
        action="store_true",
        help="Instead, time cnn_core with each speed technique switched off in turn.",
    )
    bench.add_argument(
        "--time-to-accuracy",
        action="store_true",
        help="Instead, train each preset with its own settings and print its test accuracy (with test-time "
        "flips) after every epoch against the seconds of training so far (about 20 minutes on the full CIFAR-10).",
    )
    bench.add_argument(
        "--presets",
        nargs="+",
        choices=list(PRESETS),
        default=None,
        metavar="NAME",
        help="With --time-to-accuracy: the presets to train (default: all of them).",
    )
    bench.add_argument(
        "--record",
        action="store_true",
        help="With --time-to-accuracy: keep the figures as what the Train page tells people to expect.",
    )

    sweep = commands.add_parser(
        "sweep",
        help="try many settings with Optuna: each trial a saved run, then what mattered",
        description="Vary one to four settings and train a run for each trial. Hopeless trials are stopped "
        "early (Optuna's median pruner on the validation loss). The study is kept in a SQLite file in the runs "
        "folder, or in any Optuna storage (--storage), which several machines can work on at once: run the same "
        "command with --study NAME on each.",
    )
    _add_model_options(sweep)
    _add_setting_options(sweep)
    sweep.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="NAME=SPEC",
        help="A setting to vary: NAME=LOW:HIGH[:log|linear] or NAME=A,B,C. Sweepable: "
        + ", ".join(SWEEPABLE)
        + ". Give it up to four times; leave it out to join an existing --study.",
    )
    sweep.add_argument("--strategy", default="tpe", choices=list(STRATEGIES), help="How to pick trials (default: tpe).")
    sweep.add_argument("--trials", type=_number, default=12, metavar="N", help="Trials to finish (default: 12).")
    sweep.add_argument(
        "--seconds", type=_number, default=None, metavar="S", help="Start no trial after this many seconds."
    )
    sweep.add_argument("--no-prune", action="store_true", help="Let every trial run to its last epoch.")
    sweep.add_argument("--study", default=None, metavar="NAME", help="The sweep's name (default: a new one).")
    sweep.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="An Optuna storage URL, e.g. postgresql://user:password@host/db (default: sweeps.db in the runs folder).",
    )
    sweep.add_argument("--runs-dir", default=None, metavar="DIR", help="Folder where the trials' runs are saved.")
    sweep.add_argument("--json", action="store_true", help="Print a JSON line per trial, then a summary line.")

    runs = commands.add_parser("runs", help="list saved runs; name or tag one")
    runs.add_argument("--runs-dir", default=None, metavar="DIR", help="Folder holding the runs.")
    runs.add_argument(
        "--name", nargs=2, metavar=("RUN", "NAME"), help="Give run RUN a name ('' brings back the one made for it)."
    )
    runs.add_argument("--tags", nargs=2, metavar=("RUN", "TAGS"), help="Set run RUN's tags, separated by commas.")
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default="tutorial",
        choices=[*PRESETS, *ALIASES],
        help="Starting network and settings: " + "; ".join(f"{p.name}: {p.title}" for p in PRESETS.values()),
    )
    parser.add_argument(
        "--arch",
        metavar="FILE.json",
        default=None,
        help="Use the layer stack in this JSON file instead of the preset's network.",
    )
    parser.add_argument(
        "--dataset",
        default=DEFAULT,
        metavar="NAME|PATH",
        help="Data set: "
        + "; ".join(f"{key}: {text}" for key, (_, text) in DESCRIPTIONS.items())
        + "; or the path of your own images (a folder, .zip or .tar.gz with one folder per class, optionally under "
        "train/ and test/), imported once. Default: %(default)s.",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        metavar="DIR",
        help="Folder for downloads, caches and imports (default: $CNN_DATA_DIR or ./data).",
    )


def _load_architecture(args: argparse.Namespace, num_classes: int) -> Architecture:
    if args.arch is None:
        return get_preset(args.preset).architecture.with_num_classes(num_classes)
    path = Path(args.arch)
    try:
        # Read at most the limit, whatever the file says its size is (/dev/zero says 0).
        with open(path, "rb") as f:
            data = f.read(MAX_ARCH_FILE + 1)
        if len(data) > MAX_ARCH_FILE:
            raise InputError(f"--arch {path}: the file is larger than {MAX_ARCH_FILE:,} bytes; is it an architecture?")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--arch {path}: cannot read the file ({getattr(error, 'strerror', None) or error})") from None
    try:
        return Architecture.from_json(text)
    except (ConfigError, ArchitectureError) as error:
        raise InputError(f"--arch {path}: {error}") from None


def _settings(args: argparse.Namespace) -> tuple[TrainSettings, set[str]]:
    given = {name: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    base = get_preset(args.preset).settings
    try:
        settings = base.replace(**given)
    except ConfigError as error:
        raise InputError(f"{option_name(error.field)} {error.message}") from None
    dry_run = getattr(args, "dry_run", False)
    if dry_run:
        settings = settings.replace(
            epochs=1,
            train_samples=min(settings.train_samples, 3 * settings.batch_size),
            val_samples=min(settings.val_samples, 64),
            test_samples=min(settings.test_samples, 64),
        )
    return settings, set(given) - ({"epochs", "train_samples", "val_samples", "test_samples"} if dry_run else set())


def _load_data(args: argparse.Namespace):
    """The data set, with download and import progress on stderr (stdout may be JSON)."""
    tty = sys.stderr.isatty()
    last = {"step": -1}

    def show(text: str, step: int) -> None:  # redraw in place on a terminal, else a line per step
        if step != last["step"]:
            last["step"] = step
            print(("\r" if tty else "") + text, end="" if tty else "\n", file=sys.stderr, flush=True)

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase == "download":
            of = f" of {total / 2**20:.0f}" if total else ""
            show(f"downloading: {done / 2**20:.0f}{of} MB", done // (10 * 2**20) if not tty else done // 2**20)
        else:
            show(f"importing images: {done:,} files read", done // 10_000 if not tty else done)

    dataset = load_dataset(args.dataset, folder=args.data_dir, progress=progress)
    if tty and last["step"] >= 0:
        print(file=sys.stderr)
    if args.command != "train":  # train prints them in its log, as the app's log shows them
        for note in dataset.notes:
            print(f"note: {note}", file=sys.stderr)
    return dataset


def cmd_train(args: argparse.Namespace) -> int:
    out = sys.stdout

    def show(event: dict) -> None:
        if not args.json:
            for line in event_lines(event):
                print(line, file=out, flush=True)

    try:
        pace = Pace(args.pace)
    except ConfigError as error:
        raise InputError(f"--pace {error.message}") from None
    if args.resume:
        trainer = _resume_trainer(args, show)
    else:
        trainer = _new_trainer(args, show)
    trainer.pace = pace
    return _train(args, trainer, out)


def _new_trainer(args: argparse.Namespace, show):
    from .training import Trainer

    settings, strict = _settings(args)
    dataset = _load_data(args)
    architecture = _load_architecture(args, dataset.num_classes)
    store = None if (args.no_save or args.dry_run) else RunStore(args.runs_dir)
    try:
        return Trainer(
            architecture,
            settings,
            dataset,
            store=store,
            on_event=show,
            strict=strict,
            preset=None if args.arch else args.preset,
            max_batches=3 if args.dry_run else None,
        )
    except ConfigError as error:
        raise InputError(f"{option_name(error.field)} {error.message}") from None
    except ArchitectureError as error:
        raise InputError(f"{'--arch ' + args.arch if args.arch else '--preset ' + args.preset}: {error}") from None


def _resume_trainer(args: argparse.Namespace, show):
    """Continue a saved run from its last epoch checkpoint, with its own settings and data set."""
    from .training import Trainer

    given = [option_name(f) for f in SETTINGS if getattr(args, f) is not None]
    if given or args.arch or args.dry_run or args.no_save:
        extra = given[0] if given else "--arch" if args.arch else "--dry-run" if args.dry_run else "--no-save"
        raise InputError(f"--resume continues a run with its own settings; leave out {extra}")
    run = RunStore(args.runs_dir).get(args.resume)
    args.dataset = run.dataset_source()
    return Trainer.resume(run, _load_data(args), on_event=show)


def _train(args, trainer, out) -> int:
    if not args.json:
        print("\n".join(header_lines(trainer.plan.settings, trainer.plan.log_info())), file=out, flush=True)

    def on_interrupt(signum, frame):  # first Ctrl-C: stop cleanly and save; second: give up
        print("\nStopping after this batch (press Ctrl-C again to abort)...", file=sys.stderr, flush=True)
        trainer.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    from .training import TERMINATED

    def on_terminate(signum, frame):  # `kill`, a service manager: save like Stop, end as interrupted
        print("\nAsked to end: saving after this batch...", file=sys.stderr, flush=True)
        trainer.stop(interrupted=TERMINATED)

    previous = signal.signal(signal.SIGINT, on_interrupt)
    previous_term = signal.signal(signal.SIGTERM, on_terminate)
    try:
        result = trainer.run()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)

    if args.json:
        print(
            json.dumps(
                {
                    **result.to_json(),
                    "preset": None if args.arch else args.preset,
                    "architecture": trainer.plan.architecture.name,
                    "settings": trainer.plan.settings.to_dict(),
                }
            )
        )
    elif result.run_dir:
        print(f"Saved to {result.run_dir}", file=out)
    codes = {COMPLETED: EXIT_OK, DIVERGED: EXIT_DIVERGED, STOPPED: EXIT_STOPPED, INTERRUPTED: EXIT_TERMINATED}
    return codes.get(result.status, EXIT_FAILED)


def cmd_shapes(args: argparse.Namespace) -> int:
    dataset = _load_data(args)
    architecture = _load_architecture(args, dataset.num_classes)
    report = infer_shapes(architecture, dataset.input_shape, dataset.num_classes)
    print(f"{'#':>3}  {'layer':<48} {'output':>14} {'params':>11} {'mult-adds':>13}")
    print(f"{'':>3}  {'input':<48} {'x'.join(map(str, report.input_shape)):>14}")
    for row in report.rows:
        shape = "x".join(map(str, row.output_shape))
        print(f"{row.index:>3}  {row.description:<48} {shape:>14} {row.parameters:>11,} {row.mult_adds:>13,}")
    print(f"     {'total':<48} {'':>14} {report.parameters:>11,} {report.mult_adds:>13,}")
    if report.error:
        raise InputError(str(report.error))
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    print(markdown_table(), end="")
    return EXIT_OK


def cmd_presets(args: argparse.Namespace) -> int:
    for preset in PRESETS.values():
        print(f"{preset.name:<15} {preset.title}: {preset.description}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    import platform

    import torch

    from . import bench

    for flag, values in (("--epochs", [args.epochs]), ("--rounds", [args.rounds]), ("--batch-sizes", args.batch_sizes)):
        if any(value < 1 for value in values):
            raise InputError(f"{flag} must be at least 1 (got {' '.join(map(str, values))})")
    dataset = _load_data(args)
    print(f"data: {dataset.name}, {len(dataset.train_labels):,} training / {len(dataset.test_labels):,} test images")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()}"
    )
    if args.time_to_accuracy:
        entries = bench.time_to_accuracy(dataset, tuple(args.presets or bench.TIME_TO_ACCURACY_PRESETS))
        print(bench.time_to_accuracy_table(entries))
        if args.record:
            expectations.record(entries, bench.machine(), datetime.date.today().isoformat())
            print(f"recorded in {expectations.FIGURES}")
        return EXIT_OK
    print(bench.HEADER)
    if args.ablation:
        bench.ablation(dataset, epochs=args.epochs, batch_sizes=tuple(args.batch_sizes))
        return EXIT_OK
    results = bench.run(dataset, epochs=args.epochs, batch_sizes=tuple(args.batch_sizes), rounds=args.rounds)
    for batch_size, values in bench.round_ratios(results).items():
        rounds = ", ".join(f"{value:.2f}" for value in values)
        print(f"speed ratio at batch {batch_size}: {bench.ratios(results)[batch_size]:.1f}x (rounds: {rounds})")
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    folder = data_dir(args.data_dir)
    for entry in catalog(folder):
        print(f"{entry.key:<14} {entry.title:<20} {entry.state:<22} {entry.description}")
    for info in list_imports(folder):
        print(
            f"{info.source:<25} {info.name:<20} {info.images:,} pictures in {info.classes} classes, "
            f"from {info.origin}, imported {info.imported_at[:16].replace('T', ' ')}"
        )
    print(f"data folder: {folder.resolve()}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from . import sweeps

    store = RunStore(args.runs_dir)
    storage = args.storage or sweeps.default_storage(store.root)
    plan = base = None
    try:
        if args.vary:
            plan = sweeps.SweepPlan(
                tuple(sweeps.Vary.parse(text) for text in args.vary),
                strategy=args.strategy,
                trials=args.trials,
                seconds=args.seconds,
                prune=not args.no_prune,
            )
            settings, _ = _settings(args)
            base = sweeps.Base(
                get_preset(args.preset).architecture if args.arch is None else _load_architecture(args, 10),
                settings,
                args.dataset,
                None if args.arch else args.preset,
            )
        elif args.study is None:
            raise InputError("--vary: give at least one setting to vary (or --study NAME to join a sweep)")
        sweep = sweeps.Sweep.open(storage, args.study or sweeps.new_name(), plan, base)
    except ConfigError as error:
        option = {"vary": "--vary", "study": "--study", "storage": "--storage", "sweep": "--vary"}.get(error.field)
        raise InputError(f"{option or option_name(error.field)} {error.message}") from None
    args.dataset = sweep.base.dataset
    dataset = _load_data(args)
    sweep.base = dataclasses.replace(
        sweep.base, architecture=sweep.base.architecture.with_num_classes(dataset.num_classes)
    )
    if not args.json:
        print(f"sweep {sweep.name}: {'; '.join(v.describe() for v in sweep.plan.vary)}; "
              f"{sweep.plan.trial_count} trials, {sweeps.STRATEGIES[sweep.plan.strategy]}")  # fmt: skip

    def show(record) -> None:
        if args.json:
            print(sweeps.dumps(record), flush=True)
            return
        params = sweeps.describe_params(record.params)
        loss = f"{record.val_loss:.3f}" if record.val_loss is not None else "-"
        print(f"trial {record.number:>3} {record.state:<9} val loss {loss:<6} {params}  {record.message}", flush=True)

    current = {}
    stop = {"asked": False}

    def on_interrupt(signum, frame):  # Ctrl-C: the trial ends as interrupted; the sweep can be continued
        stop["asked"] = True  # a second one too: the trial is saving, and an abort would leave it running
        if current.get("trainer") is not None:
            current["trainer"].stop(interrupted="the sweep was interrupted")

    def on_trainer(trainer) -> None:
        current["trainer"] = trainer
        if stop["asked"]:  # asked between two trials: this one ends at once
            trainer.stop(interrupted="the sweep was interrupted")

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        sweep.work(
            dataset,
            store,
            on_trial=show,
            should_stop=lambda: stop["asked"],
            on_trainer=on_trainer,
        )
    except ConfigError as error:
        raise InputError(str(error)) from None
    finally:
        signal.signal(signal.SIGINT, previous)
    summary = sweep.summary()
    if args.json:
        print(sweeps.dumps(summary))
    else:
        best = summary.best
        if best is not None:
            print(f"best: trial {best.number}, validation loss {best.val_loss:.3f}, run {best.run}, {best.params}")
        print(summary.sentence)
        print(f"continue it, or add a machine: python -m cnn_core sweep --study {sweep.name}"
              + (f" --storage {args.storage}" if args.storage else ""))  # fmt: skip
    return EXIT_STOPPED if stop["asked"] else EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    store = RunStore(args.runs_dir)
    for pair, change in ((args.name, "name"), (args.tags, "tags")):
        if pair is not None:
            run = store.get(pair[0])
            value = pair[1] if change == "name" else tuple(pair[1].split(","))
            run.set_notes(dataclasses.replace(run.notes(), **{change: value}))
    runs = store.list()
    if not runs:
        print("no runs yet")
    for info in runs:
        acc = f"{100 * info.test_accuracy:.1f}%" if info.test_accuracy is not None else "-"
        tags = f"  [{', '.join(info.tags)}]" if info.tags else ""
        print(f"{info.id:<44} {info.status:<12} {info.dataset:<12} test {acc:<6} {info.name}{tags}")
        if info.status == DAMAGED:
            print(f"    {info.message}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
        return {
            "train": cmd_train,
            "shapes": cmd_shapes,
            "presets": cmd_presets,
            "settings": cmd_settings,
            "datasets": cmd_datasets,
            "bench": cmd_bench,
            "runs": cmd_runs,
            "sweep": cmd_sweep,
        }[args.command](args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except CnnCoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INVALID
