"""``beatforge train`` / ``python main.py --train``: Mug Diffusion's training entry point, working.

Flags follow Mug Diffusion's ``main.py`` (``-b`` configs merged left to right, ``a.b=value`` overrides, ``-r``,
``-n``, ``-f``, ``-l``, ``-s``, ``--gpus 0,``, ``--scale_lr``) on Lightning 2 with no removed APIs.

``-r`` does one of two things, and says which:

* **resume**: a run directory, or a checkpoint inside its ``checkpoints/`` folder (``last.ckpt``): the run goes on
  in the same directory from that checkpoint: weights, optimizer, LR schedule, step and random state, so its
  loss curve continues where it stopped;
* **fine-tune**: a model file (``models/ckpt/model.ckpt``, a ``model.safetensors``, a model directory): its
  weights are loaded into a new run that uses the ``-b`` config's learning rate and data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from beatforge.boundary import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated
from beatforge.config import Config, ConfigError, load_config, to_dict, to_yaml
from beatforge.errors import BeatforgeError, check_flag_range
from beatforge.features import FeatureTable
from beatforge.fileio import atomic_write_text


def str2bool(value: str) -> bool:
    """argparse type for Mug's ``-t/--train`` (osu-diffusion's ``type=bool`` made "False" true)."""
    lowered = str(value).lower()
    if lowered in ("yes", "true", "t", "y", "1"):
        return True
    if lowered in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got '{value}'")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-b",
        "--base",
        nargs="*",
        metavar="CONFIG.yaml",
        default=[],
        help="YAML configs, merged left to right; a.b=value arguments override their keys (default: none; needed "
        "unless -r resumes a run)",
    )
    p.add_argument(
        "-t",
        "--train",
        type=str2bool,
        const=True,
        default=True,
        nargs="?",
        help="train (default: true; kept for Mug Diffusion's command line; '-t false' does nothing)",
    )
    p.add_argument(
        "-r", "--resume", default="", metavar="RUN_OR_MODEL",
        help="resume a run (its folder, or a checkpoint in its checkpoints/ folder), or fine-tune a model file "
        "(models/ckpt/model.ckpt, a model.safetensors or a model folder) (default: none, a new run)",
    )
    p.add_argument("-n", "--name", default="", help="run name (default: the first config's file name)")
    p.add_argument("-f", "--postfix", default="", help="text appended to the run name (default: none)")
    p.add_argument("-l", "--logdir", default="logs", help="folder the run folders are made in (default: logs)")
    p.add_argument("-s", "--seed", type=int, default=None,
                   help="random seed (default: the config's seed, 23 in the shipped configs)")
    p.add_argument("-p", "--project", default=None, help=argparse.SUPPRESS)
    p.add_argument("-d", "--debug", action="store_true",
                   help="show tracebacks; run folders go to debug_runs/ instead of --logdir (default: off)")
    p.add_argument("--no-test", action="store_true",
                   help="accepted for Mug Diffusion's command line; there is no test stage (default: off)")
    p.add_argument(
        "--scale_lr",
        type=str2bool,
        nargs="?",
        const=True,
        default=None,
        help="multiply the learning rate by batch size x devices x accumulation, as Mug Diffusion did by default "
        "(default: the config's model.scale_lr, false: the learning rate as written)",
    )
    p.add_argument("--gpus", default=None, help="GPU ids, e.g. '0,' (one GPU) or '0,1' (default: none, the CPU)")
    p.add_argument("--accelerator", default=None, help="cpu, gpu, mps or auto (default: gpu with --gpus, else cpu)")
    p.add_argument("--devices", type=int, default=None,
                   help="processes on this machine without --gpus, e.g. 2 for CPU DDP (default: 1; with --gpus, one "
                   "per GPU id)")
    p.add_argument("--num-nodes", "--num_nodes", dest="num_nodes", type=int, default=1,
                   help="machines, for DDP over several (default: 1)")
    p.add_argument("--strategy", default=None,
                   help="Lightning strategy (default: ddp when there are several devices, else auto)")
    p.add_argument(
        "--dist-backend",
        default=None,
        choices=["nccl", "gloo"],
        help="process-group backend (default: nccl on Linux GPUs, gloo on CPU and Windows)",
    )
    p.add_argument("--max_steps", "--max-steps", dest="max_steps", type=int, default=None,
                   help="stop after this many training steps (default: the config's lightning.trainer.max_steps)")
    p.add_argument("--max_epochs", "--max-epochs", dest="max_epochs", type=int, default=None,
                   help="stop after this many epochs (default: the config's lightning.trainer.max_epochs; none: no "
                   "limit)")
    p.add_argument("--precision", default=None,
                   help="e.g. 32-true, bf16-mixed, 16-mixed (default: the config's lightning.trainer.precision, "
                   "32-true when it names none)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (default: the bar is shown)")


@dataclass
class Plan:
    mode: str  # new | resume | finetune
    cfg: Config
    run_dir: Path
    ckpt: Path | None = None  # resume: the Lightning checkpoint; finetune: the model file


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H-%M-%S")


def plan_run(args: argparse.Namespace, overrides: list[str]) -> Plan:
    """Decide what -r means and which config applies; raises BeatforgeError with one clear line."""
    base = list(args.base)
    if args.resume:
        target = Path(args.resume)
        if not target.exists():
            raise BeatforgeError(f"-r {target}: no such file or directory")
        run_dir, ckpt = _resume_target(target)
        if run_dir is not None and args.name:
            raise BeatforgeError("-n/--name cannot be used when -r resumes a run (it keeps its directory)")
        if run_dir is not None:
            saved = sorted((run_dir / "configs").glob("*-project.yaml"))
            if not saved:
                raise BeatforgeError(f"-r {target}: {run_dir} has no configs/*-project.yaml to resume with")
            cfg = load_config([saved[-1], *base], overrides)
            return Plan("resume", cfg, run_dir, ckpt)
        if not base:
            raise BeatforgeError("fine-tuning needs the new run's config: -b CONFIG.yaml -r MODEL_FILE")
        cfg = load_config(base, overrides)
        return Plan("finetune", cfg, _new_run_dir(args, cfg), target)
    if not base:
        raise BeatforgeError("no config: pass -b CONFIG.yaml (e.g. -b configs/mug/tiny.yaml)")
    cfg = load_config(base, overrides)
    return Plan("new", cfg, _new_run_dir(args, cfg))


def _resume_target(target: Path) -> tuple[Path | None, Path | None]:
    """(run dir, checkpoint) when ``target`` is a run or one of its checkpoints, else (None, None)."""
    if target.is_dir():
        last = target / "checkpoints" / "last.ckpt"
        if last.is_file():
            return target, last
        if (target / "model.safetensors").is_file() or (target / "model.ckpt").is_file():
            return None, None  # a model directory: fine-tune
        raise BeatforgeError(f"-r {target}: neither a run directory (no checkpoints/last.ckpt) nor a model directory")
    if target.parent.name == "checkpoints" and (target.parent.parent / "configs").is_dir():
        return target.parent.parent, target
    return None, None


def _new_run_dir(args: argparse.Namespace, cfg: Config) -> Path:
    name = args.name or cfg.name or "run"
    for label, text in (("-n", name), ("-f", args.postfix)):
        if any(c in str(text) for c in "/\\\x00") or str(text) in (".", ".."):
            raise BeatforgeError(f"{label} {text!r}: a run name, not a path (no '/', '\\' or '..')")
    root = Path("debug_runs" if args.debug else args.logdir)
    return root / f"{_now()}_{name}{args.postfix}"


PRECISIONS = ("64-true", "64", "32-true", "32", "16-true", "16-mixed", "16", "bf16-true", "bf16-mixed", "bf16")


def check_train_flags(args: argparse.Namespace) -> None:
    """The flags a run cannot start with, refused before a run directory exists or a model loads."""
    if args.precision is not None and str(args.precision) not in PRECISIONS:
        raise BeatforgeError(f"--precision {args.precision}: one of {', '.join(PRECISIONS)}")
    check_flag_range("--devices", args.devices, 1)
    check_flag_range("--num-nodes", args.num_nodes, 1)
    for flag, value in (("--max-steps", args.max_steps), ("--max-epochs", args.max_epochs)):
        if value is not None and value < 1 and value != -1:
            raise BeatforgeError(f"{flag} {value}: at least 1 (or -1: no limit)")
    ids = _gpu_ids(args)
    if ids:
        import torch  # lazy: torch (~1 s) stays out of the CLI's start-up

        if (args.accelerator or "gpu") in ("gpu", "cuda") and max(ids) >= torch.cuda.device_count():
            have = torch.cuda.device_count()
            hint = "" if have else " (leave --gpus out to train on the CPU)"
            raise BeatforgeError(f"--gpus '{args.gpus}': this machine has {have or 'no'} CUDA GPU(s){hint}")


def _gpu_ids(args: argparse.Namespace) -> list[int] | None:
    """``--gpus`` as a list of ids (None: not given, the CPU)."""
    if args.gpus in (None, "", "-1"):
        return None
    try:
        ids = [int(g) for g in str(args.gpus).replace(" ", "").split(",") if g != ""]
    except ValueError:
        ids = []
    if not ids:
        raise BeatforgeError(f"--gpus '{args.gpus}': give GPU ids like '0,' or '0,1'")
    if any(i < 0 for i in ids):
        raise BeatforgeError(f"--gpus '{args.gpus}': GPU ids are 0 or more")
    return ids


def _trainer_devices(args: argparse.Namespace) -> tuple[str, object]:
    ids = _gpu_ids(args)
    if ids:
        return args.accelerator or "gpu", ids
    return args.accelerator or "cpu", args.devices or 1


def _strategy(args: argparse.Namespace, accelerator: str, devices: object):
    n = len(devices) if isinstance(devices, list) else int(devices)
    if args.strategy:
        return args.strategy
    if n * args.num_nodes <= 1:
        return "auto"
    # lazy: lightning (~2 s) stays out of the CLI's start-up (the CLI imports this module for its parser)
    from lightning.pytorch.strategies import DDPStrategy

    backend = args.dist_backend or ("gloo" if accelerator == "cpu" or os.name == "nt" else "nccl")
    return DDPStrategy(process_group_backend=backend)


def build_system(plan: Plan, args: argparse.Namespace, n_devices: int):
    """The LightningModule for the plan, with weights loaded for fine-tuning or a first stage for diffusion."""
    # lazy: checkpoints and the systems import torch (~1 s): kept out of the CLI's start-up (it builds its parser here)
    from beatforge.checkpoints import ModelFileError, load_model_file, load_weights

    cfg = plan.cfg
    lr = cfg.model.base_learning_rate
    scale_lr = cfg.model.scale_lr if args.scale_lr is None else args.scale_lr
    if scale_lr:
        lr = lr * cfg.data.batch_size * n_devices * args.num_nodes * cfg.lightning.trainer.accumulate_grad_batches
        print(
            f"learning rate {lr:.3g} = base {cfg.model.base_learning_rate:.3g} x batch {cfg.data.batch_size} x "
            f"{n_devices * args.num_nodes} devices x {cfg.lightning.trainer.accumulate_grad_batches} accumulation"
        )
    meta = {"learning_rate": lr}
    if cfg.model.kind == "autoencoder":
        from beatforge.systems.autoencoder import AutoencoderSystem

        system = AutoencoderSystem(cfg)
        system.learning_rate_override = lr
        if plan.mode == "finetune":
            mf = load_model_file(plan.ckpt)
            _check_kind(mf, cfg, plan.ckpt)
            load_weights(system.vae, mf.state_dict, prefix="first_stage.", source=str(plan.ckpt))
        return system, None

    from beatforge.systems.latent_diffusion import LatentDiffusionSystem

    features = FeatureTable.from_yaml(cfg.model.params.cond_stage_config.path_to_yaml)
    system = LatentDiffusionSystem(to_dict(cfg), features.to_list(), meta=meta)
    if plan.mode == "finetune":
        mf = load_model_file(plan.ckpt)
        _check_kind(mf, cfg, plan.ckpt)
        _check_features(mf, features, plan.ckpt)
        _check_keys(mf, cfg, plan.ckpt)
        load_weights(system.first_stage, mf.state_dict, prefix="first_stage.", source=str(plan.ckpt))
        load_weights(system.denoiser, mf.state_dict, prefix="denoiser.", source=str(plan.ckpt))
        system.scale_factor.fill_(float(mf.state_dict["scale_factor"]))
        return system, None
    if plan.mode == "new":
        path = cfg.model.params.first_stage_config.ckpt_path
        if not path:
            raise ConfigError(
                "model.params.first_stage_config.ckpt_path is not set: the chart VAE would be random. "
                "Train it first (beatforge train -b configs/mug/autoencoder.yaml) and point this key "
                "at that run's model/model.safetensors"
            )
        vae_file = load_model_file(path)
        if vae_file.kind not in ("autoencoder", "latent_diffusion"):
            raise ModelFileError(f"{path}: a {vae_file.kind} model, not a chart VAE")
        load_weights(system.first_stage, vae_file.state_dict, prefix="first_stage.", source=str(path))
        return system, "measure" if float(system.scale_factor) <= 0 else None
    return system, None


def _check_kind(mf, cfg: Config, path) -> None:
    # lazy: checkpoints imports torch (~1 s): kept out of the CLI's start-up
    from beatforge.checkpoints import ModelFileError

    if mf.kind != cfg.model.kind:
        raise ModelFileError(f"{path}: a {mf.kind} model file, but the config trains a {cfg.model.kind}")


def _check_features(mf, features, path) -> None:
    # lazy: checkpoints imports torch (~1 s): kept out of the CLI's start-up
    from beatforge.checkpoints import ModelFileError

    theirs = mf.meta.get("feature_table")
    if theirs is None:
        return
    ours = features.to_list()
    if theirs != ours:
        names_t, names_o = [f["name"] for f in theirs], [f["name"] for f in ours]
        diff = next((a["name"] for a, b in zip(theirs, ours) if a != b), None)
        detail = f"feature '{diff}' differs" if diff else f"{len(names_t)} features vs {len(names_o)}"
        raise ModelFileError(
            f"{path}: its feature table does not fit this config's ({detail}); fine-tune with the "
            f"feature table the model was trained with"
        )


def _check_keys(mf, cfg: Config, path) -> None:
    # lazy: checkpoints imports torch (~1 s): kept out of the CLI's start-up
    from beatforge.checkpoints import ModelFileError

    trained = mf.meta.get("keys")
    if trained and cfg.data.keys:
        extra = sorted(set(cfg.data.keys) - set(trained))
        if extra:
            raise ModelFileError(
                f"{path}: the model was trained for {trained} keys; this config asks for "
                f"{extra} too (data.keys): those key counts need training from scratch"
            )


def export_model(system, cfg: Config, run_dir: Path, datamodule=None) -> Path:
    """Write the run's shareable model directory: ``<run>/model/model.{safetensors,yaml,ckpt}``."""
    # lazy: checkpoints imports torch (~1 s): kept out of the CLI's start-up
    from beatforge.checkpoints import ModelFile, save_model_dir

    meta = {"step": int(system.global_step), "run": run_dir.name}
    if cfg.model.kind == "autoencoder":
        state = {f"first_stage.{k}": v for k, v in system.vae.state_dict().items()}
    else:
        state = system.model_state()
        meta["feature_table"] = system.features.to_list()
        meta["scale_factor"] = float(system.scale_factor)
    train_set = getattr(datamodule, "train_set", None)
    keys = sorted({int(r["keys"]) for r in train_set.records} if train_set is not None else cfg.data.keys or [])
    if keys:
        meta["keys"] = [int(k) for k in keys]
    save_model_dir(run_dir / "model", ModelFile(cfg.model.kind, to_dict(cfg), state, meta))
    return run_dir / "model"


def _check_inputs(plan: Plan) -> None:
    """The datasets and the model file a run names, read before Lightning is imported (seconds) and before a run
    folder exists: a missing dataset or a foreign ``-r`` file is one line at once, not after start-up."""
    from beatforge.data.build import read_index  # lazy: the CLI imports this module for its parser

    for d in plan.cfg.data.dataset:
        if not Path(d).is_dir():
            raise BeatforgeError(f"data.dataset {d}: no such folder (build one with 'beatforge dataset build')")
        read_index(d)
    if plan.mode == "finetune":
        from beatforge.checkpoints import load_model_file  # lazy: torch (~1 s)

        load_model_file(plan.ckpt)


def run_training(args: argparse.Namespace, overrides: list[str]) -> Path:
    """Plan, build and fit; returns the run directory."""
    plan = plan_run(args, overrides)  # first: a bad config or flag is refused before seconds of imports
    _check_inputs(plan)
    # lazy: lightning and torch (~2-10 s) stay out of the CLI's start-up (the CLI imports this module for its parser)
    import lightning as L
    import torch

    torch.set_flush_denormal(True)  # 3-10x faster small-model training on CPU (denormals in late training)
    cfg = plan.cfg
    if args.seed is not None:
        cfg.seed = args.seed
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    accelerator, devices = _trainer_devices(args)
    n_devices = len(devices) if isinstance(devices, list) else int(devices)
    rank0 = (
        int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) == 0
        and int(os.environ.get("LOCAL_RANK", 0)) == 0
    )
    run_dir = plan.run_dir
    child = "LOCAL_RANK" in os.environ and "BEATFORGE_RUN_DIR" in os.environ
    if child and plan.mode != "resume":
        run_dir = Path(os.environ["BEATFORGE_RUN_DIR"])  # DDP children started by Lightning use the parent's dir
    os.environ["BEATFORGE_RUN_DIR"] = str(run_dir)
    try:
        return _fit(plan, args, run_dir, accelerator, devices, n_devices, rank0)
    except BaseException:
        # a new run that failed before its first checkpoint leaves no folder behind (a resumed one keeps its own)
        if not child and plan.mode != "resume" and rank0 and run_dir.is_dir() \
                and not any((run_dir / "checkpoints").glob("*.ckpt")):
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if not child:
            os.environ.pop("BEATFORGE_RUN_DIR", None)


def _fit(plan: Plan, args: argparse.Namespace, run_dir: Path, accelerator, devices, n_devices: int, rank0: bool):
    # lazy: lightning and torch (~2 s) stay out of the CLI's start-up (the CLI imports this module for its parser)
    import lightning as L
    from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    from beatforge.training.callbacks import LossCurve, RNGState, SaveOnInterrupt, TrimHistory, history_csv_logger

    cfg = plan.cfg
    what = {
        "new": "training from scratch",
        "resume": f"resuming {run_dir} from {plan.ckpt}",
        "finetune": f"fine-tuning: weights from model file {plan.ckpt}, new run with this config's learning "
        f"rate ({cfg.model.base_learning_rate:g}) and data",
    }[plan.mode]
    if rank0:
        print(f"beatforge train: {what}")
        print(f"run directory: {run_dir}")
        (run_dir / "configs").mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "configs" / f"{_now()}-project.yaml", to_yaml(cfg))

    from beatforge.data.mania_dataset import ManiaDataModule  # lazy: imports lightning and torch

    system, todo = build_system(plan, args, n_devices)
    features = FeatureTable.from_yaml(cfg.model.params.cond_stage_config.path_to_yaml)
    datamodule = ManiaDataModule(cfg, features)
    if todo == "measure":
        datamodule.setup("fit")
        batch = next(iter(datamodule.train_dataloader()))
        scale = system.measure_scale_factor(batch)
        if rank0:
            print(f"latent scale factor {scale:.4f} (1 / std of the VAE latents of one batch)")

    ck = cfg.lightning.checkpoint
    tr = cfg.lightning.trainer
    monitor = cfg.model.params.monitor if cfg.model.kind == "latent_diffusion" else "val/loss"
    callbacks = [
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="step={step:09d}",
            auto_insert_metric_name=False,
            every_n_train_steps=ck.every_n_train_steps,
            save_top_k=-1,
            save_last=ck.save_last,
        ),
        ModelCheckpoint(
            dirpath=run_dir / "checkpoints",
            filename="best-epoch={epoch:06d}-step={step:09d}",
            auto_insert_metric_name=False,
            monitor=monitor,
            mode="min",
            save_top_k=ck.save_top_k,
        ),
        RNGState(),
        TrimHistory(),
        LossCurve(run_dir),
        SaveOnInterrupt(run_dir / "checkpoints" / "last.ckpt",
                        lambda module: export_model(module, cfg, run_dir, datamodule)),
        LearningRateMonitor(logging_interval="step"),
    ]
    if not args.quiet:
        callbacks.append(TQDMProgressBar(refresh_rate=1))
    trainer = L.Trainer(
        default_root_dir=run_dir,
        accelerator=accelerator,
        devices=devices,
        num_nodes=args.num_nodes,
        strategy=_strategy(args, accelerator, devices),
        max_steps=args.max_steps if args.max_steps is not None else tr.max_steps,
        max_epochs=args.max_epochs if args.max_epochs is not None else tr.max_epochs,
        val_check_interval=tr.val_check_interval,
        check_val_every_n_epoch=tr.check_val_every_n_epoch,
        log_every_n_steps=tr.log_every_n_steps,
        precision=args.precision or tr.precision,
        accumulate_grad_batches=tr.accumulate_grad_batches,
        gradient_clip_val=tr.gradient_clip_val,
        limit_val_batches=tr.limit_val_batches,
        benchmark=tr.benchmark,
        logger=[history_csv_logger(run_dir), TensorBoardLogger(run_dir, name="tensorboard", version="")],
        callbacks=callbacks,
        enable_progress_bar=not args.quiet,
        enable_model_summary=rank0 and not args.quiet,
        use_distributed_sampler=False,  # ManiaDataModule's EpochSampler shards by rank itself (exact resume)
    )
    try:
        trainer.fit(system, datamodule=datamodule, ckpt_path=str(plan.ckpt) if plan.mode == "resume" else None)
    except SystemExit:
        # Lightning answers Ctrl-C with sys.exit(1) after its callbacks ran (SaveOnInterrupt wrote last.ckpt and
        # the model): say "interrupted" (exit 130), not a failure
        if any(isinstance(c, SaveOnInterrupt) and c.interrupted for c in callbacks):
            raise KeyboardInterrupt from None
        raise
    if trainer.is_global_zero:
        model_dir = export_model(system, cfg, run_dir, datamodule)
        best = callbacks[1].best_model_path
        print(
            f"done: {run_dir}\n  last checkpoint {run_dir / 'checkpoints' / 'last.ckpt'}\n"
            f"  best checkpoint {best or '-'}\n  model files     {model_dir}/model.safetensors, model.yaml, "
            f"model.ckpt\n  loss curve      {run_dir / 'loss_curve.png'}"
        )
    return run_dir


DESCRIPTION = ("Train from scratch (-b CONFIG.yaml), resume a run (-r RUN_DIR or its last.ckpt), or fine-tune a model "
               "file (-b CONFIG.yaml -r MODEL_FILE). Extra a.b=value arguments override config keys. Mug Diffusion's "
               "training entry point: 'beatforge train' and 'python main.py --train' are the same command.")


def parse_train_args(argv: list[str] | None, prog: str = "beatforge train") -> tuple[argparse.Namespace, list[str]]:
    """(flags, a.b=value overrides) of a training command line; ``prog`` names the command in usage and errors."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_train_arguments(parser)
    args, unknown = parser.parse_known_args(argv)
    # -b takes any number of values, so "-b a.yaml x.y=1" hands it the override too: move those back.
    moved = [b for b in args.base if "=" in b and not Path(b).exists()]
    args.base = [b for b in args.base if b not in moved]
    overrides = moved + [u for u in unknown if "=" in u and not u.startswith("-")]
    bad = [u for u in unknown if u not in overrides]
    if bad:
        parser.error(f"unrecognized arguments: {' '.join(bad)} (config overrides look like a.b=value)")
    return args, overrides


def main_train(argv: list[str] | None = None, prog: str = "beatforge train") -> int:
    """Entry point shared by ``python main.py`` (``prog="main.py"``) and ``beatforge train``."""
    args, overrides = parse_train_args(argv, prog)
    if not args.train:
        print("nothing to do: --train false")
        return 0
    try:
        check_train_flags(args)
        run_training(args, overrides)
    except BeatforgeError as exc:
        if args.debug or os.environ.get("BEATFORGE_DEBUG"):
            raise
        print(f"beatforge: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("beatforge: interrupted: last.ckpt and the model files were written; resume with -r RUN_DIR",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("beatforge: terminated (SIGTERM): last.ckpt and the model files were written; resume with -r RUN_DIR",
              file=sys.stderr)
        return EXIT_TERMINATED
    return 0
