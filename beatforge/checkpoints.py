"""Model files a user may share and receive: safetensors + YAML, and ``model.ckpt`` for the seed guide.

Below both training and generation: a model's file format is neither a training nor an inference concern, and
generation must never import training (which pulls in Lightning).

A model directory holds

* ``model.safetensors``: the weights (no code, no pickle);
* ``model.yaml``: the resolved training config, the feature table, the latent scale, the key counts trained for;
* ``model.ckpt``: the same weights and metadata as one ``torch.save`` file made only of tensors, dicts, lists,
  strings and numbers, so ``torch.load(..., weights_only=True)`` reads it (Mug Diffusion's users expect
  ``models/ckpt/model.ckpt``; beatforge never unpickles anything else).

The osu!standard DiT's directories are osu-diffusion's (``train.py`` writes them): ``model.safetensors`` +
``model.json`` (format, config, training noise schedule), ``beatmap_idx.json`` (style id -> class) and
``styles.json`` (style id -> map name); see the last section.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from beatforge import __version__
from beatforge.constants import MAX_SMALL_FILE_BYTES
from beatforge.errors import BeatforgeError, message_of
from beatforge.fileio import atomic_write_bytes, atomic_write_text, read_json, read_text
from beatforge.models.dit import DIT_FORMAT, DiT, DiTConfig
from beatforge.models.onset_net import OnsetNet, OnsetNetConfig

FORMAT = "beatforge-model/1"


class ModelFileError(BeatforgeError):
    """A model file that cannot be read, or that does not fit the config it is used with."""


@dataclass
class ModelFile:
    kind: str  # autoencoder | latent_diffusion | rhythm
    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any] = field(default_factory=dict)  # feature_table, keys, scale_factor, version, step ...
    path: str = ""


def save_model_dir(out_dir: str | Path, model: ModelFile, *, ckpt: bool = True) -> list[Path]:
    """Write model.safetensors, model.yaml and (``ckpt``) model.ckpt into ``out_dir`` (atomically, each)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict.items()}
    header = {"format": FORMAT, "kind": model.kind, "beatforge": __version__}
    atomic_write_bytes(out / "model.safetensors", save(tensors, metadata=header))
    doc = {**header, "meta": model.meta, "config": model.config}
    atomic_write_text(out / "model.yaml", yaml.safe_dump(doc, sort_keys=False))
    if not ckpt:
        return [out / "model.safetensors", out / "model.yaml"]
    buf = io.BytesIO()
    torch.save({**header, "meta": model.meta, "config": model.config, "state_dict": tensors}, buf)
    atomic_write_bytes(out / "model.ckpt", buf.getvalue())
    return [out / "model.safetensors", out / "model.yaml", out / "model.ckpt"]


def is_lightning_checkpoint(obj: dict) -> bool:
    return isinstance(obj, dict) and "state_dict" in obj and ("optimizer_states" in obj or "loops" in obj)


def load_model_file(path: str | Path) -> ModelFile:
    """Read a model file: a model dir, ``model.safetensors`` (with ``model.yaml`` beside it) or ``model.ckpt``.

    Raises:
        ModelFileError: no such file, not a beatforge model file, or unreadable.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "model.safetensors" if (p / "model.safetensors").is_file() else p / "model.ckpt"
    if not p.is_file():
        raise ModelFileError(f"{p}: no such model file")
    if p.suffix == ".safetensors":
        side = p.with_suffix(".yaml")
        if not side.is_file():
            raise ModelFileError(f"{p}: its config {side.name} is missing beside it")
        try:
            state = load_file(str(p))
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"{p}: unreadable model file ({message_of(exc)})") from None
        try:
            doc = yaml.safe_load(read_text(side, max_bytes=MAX_SMALL_FILE_BYTES, what="a model config",
                                           error=ModelFileError))
        except (yaml.YAMLError, RecursionError) as exc:
            raise ModelFileError(f"{side}: not a readable model config ({message_of(exc)})") from None
        return _checked(doc, state, str(p))
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError ... for foreign files
        raise ModelFileError(
            f"{p}: not a beatforge model file (torch.load with weights_only=True failed: "
            f"{message_of(exc, 120)})"
        ) from None
    if is_lightning_checkpoint(obj):
        hp = obj.get("hyper_parameters", {})
        cfg = hp.get("config")
        if cfg is None:
            raise ModelFileError(f"{p}: a training checkpoint without a beatforge config")
        meta = dict(hp.get("meta", {}))
        meta.setdefault("step", obj.get("global_step"))
        return _checked(
            {"format": FORMAT, "kind": cfg["model"]["kind"], "config": cfg, "meta": meta}, obj["state_dict"], str(p)
        )
    return _checked(obj, obj.get("state_dict") if isinstance(obj, dict) else None, str(p))


def _checked(doc: Any, state: Any, path: str) -> ModelFile:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(state, dict):
        raise ModelFileError(f"{path}: not a beatforge model file (format {FORMAT!r} expected)")
    return ModelFile(
        kind=str(doc.get("kind")),
        config=doc.get("config") or {},
        state_dict=state,
        meta=doc.get("meta") or {},
        path=path,
    )


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], *, prefix: str, source: str) -> int:
    """Copy ``prefix``-ed weights of ``state`` into ``module`` (strictly: every parameter, same shapes).

    Raises:
        ModelFileError: naming the first missing, unexpected or differently shaped parameter.
    """
    own = module.state_dict()
    theirs = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(theirs))
    extra = sorted(set(theirs) - set(own))
    if missing or extra:
        which = f"lacks '{prefix}{missing[0]}'" if missing else f"has an unexpected '{prefix}{extra[0]}'"
        raise ModelFileError(
            f"{source}: does not fit this config: the model file {which} "
            f"({len(missing)} missing, {len(extra)} unexpected): was it made with another config?"
        )
    for k, v in own.items():
        if tuple(theirs[k].shape) != tuple(v.shape):
            raise ModelFileError(
                f"{source}: does not fit this config: '{prefix}{k}' has shape {tuple(theirs[k].shape)} "
                f"in the model file, {tuple(v.shape)} in the config"
            )
    module.load_state_dict(theirs, strict=True)
    return len(theirs)


# ------------------------------------------------------------------------------------------------ the rhythm model
def save_rhythm_model(net: OnsetNet, out_dir: str | Path, *, meta: dict) -> list[Path]:
    """A rhythm model directory (``model.safetensors`` in float16 + ``model.yaml``)."""
    state = {k: v.detach().half() for k, v in net.state_dict().items()}
    return save_model_dir(out_dir, ModelFile("rhythm", {"net": net.cfg.to_dict()}, state, meta), ckpt=False)


def load_rhythm_model(path: str | Path) -> OnsetNet:
    """A rhythm model directory or file -> the network, in eval mode."""
    mf = load_model_file(path)
    if mf.kind != "rhythm":
        raise ModelFileError(f"{mf.path}: a {mf.kind} model, not a rhythm model")
    net = OnsetNet(OnsetNetConfig.from_dict(mf.config.get("net", {})))
    load_weights(net, {k: v.float() for k, v in mf.state_dict.items()}, prefix="", source=mf.path)
    net.eval()
    return net


# ------------------------------------------------------------------------------------------------ the osu!standard DiT
DEFAULT_STANDARD_MODEL = Path(__file__).resolve().parents[1] / "models" / "standard"


def load_dit(path: str | Path, device: torch.device | str | None = None) -> tuple[DiT, dict]:
    """A checkpoint directory (``model.safetensors`` + ``model.json``) -> the EMA model (eval mode) on ``device``
    (default: the CPU; a resolved device, see :func:`beatforge.runtime.resolve_device`), its metadata
    (``model.json``: ``config``, ``noise_schedule``, ``seq_len``, ...)."""
    p = Path(path)
    d = p if p.is_dir() else p.parent
    if not (d / "model.safetensors").is_file() or not (d / "model.json").is_file():
        raise BeatforgeError(f"--ckpt {path}: not a beatforge DiT checkpoint (model.safetensors + model.json)")
    meta = read_json(d / "model.json", max_bytes=MAX_SMALL_FILE_BYTES, what="model.json")
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise BeatforgeError(f"--ckpt {path}: model.json has no config table")
    if meta.get("format") != DIT_FORMAT:
        raise BeatforgeError(f"--ckpt {path}: model format {meta.get('format')!r}, this beatforge reads "
                             f"{DIT_FORMAT!r} (positions in [-1, 1]); retrain it with train.py")
    limits = {"depth": 256, "hidden": 16384, "heads": 256, "num_classes": 1_000_000, "mlp_ratio": 64}
    for key, top in limits.items():
        value = meta["config"].get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value <= top):
            raise BeatforgeError(f"--ckpt {path}: model.json config {key} = {value!r} (1 to {top})")
    try:
        net = DiT(DiTConfig(**meta["config"]))
        net.load_state_dict({k: v.float() for k, v in load_file(str(d / "model.safetensors")).items()})
    except (TypeError, ValueError, RuntimeError, OverflowError, SafetensorError) as exc:
        raise BeatforgeError(f"--ckpt {path}: the model files do not make a DiT ({message_of(exc)})") from None
    if device is not None:
        net = net.to(device)
    return net.eval(), meta


NO_STYLE_NAME = "(no name recorded)"


def list_styles(ckpt: str | Path) -> list[tuple[str, int, str]]:
    """(style id, class index, map name) for every style the checkpoint knows (from its beatmap_idx.json and, where
    present, styles.json with the maps' names). A style has no name (``NO_STYLE_NAME``) where the checkpoint has no
    styles.json, or where its training map's file had no Artist, Title or Version. A style id that is not a number is
    the dataset's hash of a map without a BeatmapID."""
    d = Path(ckpt)
    idx = d / "beatmap_idx.json"
    if not idx.is_file():
        raise BeatforgeError(f"{ckpt}: no beatmap_idx.json in the checkpoint directory")
    index = _style_table(idx)
    names = read_json(d / "styles.json", max_bytes=MAX_SMALL_FILE_BYTES, what="styles.json") \
        if (d / "styles.json").is_file() else {}
    if not isinstance(names, dict):
        raise BeatforgeError(f"{d / 'styles.json'}: not a table of style id -> map name")
    return sorted(((k, v, _style_name(names.get(k))) for k, v in index.items()), key=lambda r: r[1])


def _style_name(name: object) -> str:
    """A styles.json entry, or NO_STYLE_NAME where it names nothing: train.py records "Artist - Title (Creator)
    [Version]", which is " -  () []" (or "None - None (None) [None]") for a map whose file has none of them."""
    text = str(name or "").strip()
    return text if text.replace("None", "").translate(str.maketrans("", "", " -()[]")) else NO_STYLE_NAME


def _style_table(path: Path) -> dict[str, int]:
    """A beatmap_idx.json: style id -> class index (non-negative integers), checked."""
    table = read_json(path, max_bytes=MAX_SMALL_FILE_BYTES, what="beatmap_idx.json")
    if not isinstance(table, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 31
                                              for v in table.values()):
        raise BeatforgeError(f"{path}: not a table of style id -> class index (non-negative integers)")
    return {str(k): int(v) for k, v in table.items()}


def style_index(ckpt: str | Path, meta: dict, beatmap_idx: str | Path | None = None) -> dict[str, int] | None:
    """style id -> class index: ``beatmap_idx`` (default: the checkpoint's beatmap_idx.json), else the table in
    ``model.json``, else None."""
    if beatmap_idx:
        return _style_table(Path(beatmap_idx))  # named by the user: it must be there (read_json says why not)
    path = Path(ckpt) / "beatmap_idx.json"
    return _style_table(path) if path.exists() else meta.get("beatmap_idx")


def style_label(style_id: int | str | None, index: dict[str, int] | None, num_classes: int, where: str) -> int:
    """The class index of an osu! BeatmapID (None = the null style, class ``num_classes``)."""
    if style_id is None:
        return num_classes
    if index is None or str(style_id) not in index:
        raise BeatforgeError(f"--style-id {style_id}: not a beatmap this model was trained on (list the valid ids "
                             f"with 'beatforge styles --ckpt {where}', or read beatmap_idx.json)")
    return int(index[str(style_id)])
