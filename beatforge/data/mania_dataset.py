"""Training data for osu!mania models: windows of charts (and their audio) from built datasets.

A dataset directory (``beatforge dataset build``, see :mod:`beatforge.data.build`) stores every chart as its note
array and every song's log-mel once. An example is cut from them here, in this order, all vectorised on the note
array (a few hundred to a few thousand rows):

1. **Augment** (training only; Mug Diffusion's set): mirror the columns (``mirror_p``), permute them at random
   (``shuffle_p``), change the playback rate (``rate_p``, ``r`` uniform in ``rate``): note times are divided by
   ``r`` and the spectrogram's time axis is resampled to ``T / r`` frames by linear interpolation, pitch unchanged
   as in Mug Diffusion. The prompt features follow the rate: skillsets and overall by
   :func:`~beatforge.analysis.skillsets.skillset_ratings` at ``r``, the pattern flags from them, the star rating
   by :func:`~beatforge.features.sr_at_rate`; the rest are unchanged.
2. **Window**: ``window_frames`` chart frames (of :data:`~beatforge.constants.FRAME_MS`). Training picks the start
   at random so the window covers notes; validation starts 16 frames before the first note, so it never changes.
   Only the notes starting in the window are encoded, and only the window's slice of the spectrogram is read (the
   ``.npy`` is memory-mapped).
3. **Encode** (:func:`beatforge.charts.mania_tensor.encode`), pad to 10 columns, and drop prompt features to
   "unspecified" at random (training only, ``feature_dropout_p``).

An example is a dict of tensors (see :class:`ManiaWindowDataset`); the default collate stacks them into a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from beatforge.analysis.skillsets import pattern_flags, skillset_ratings
from beatforge.charts import mania_tensor
from beatforge.charts.chart import ChartMeta, ManiaChart
from beatforge.config import latent_stride
from beatforge.constants import FRAME_MS, MAX_KEYS, MEL_HOPS_PER_FRAME, N_MELS, SKILLSETS
from beatforge.data.build import load_notes, read_index
from beatforge.errors import BeatforgeError
from beatforge.features import FeatureError, FeatureTable, sr_at_rate, values_from_record

VAL_LEAD_FRAMES = 16  # a validation window starts this many frames before the chart's first note

__all__ = ["Augment", "ManiaDataModule", "ManiaWindowDataset", "VAL_LEAD_FRAMES"]


@dataclass(frozen=True)
class Augment:
    """One example's augmentation. ``perm`` moves column ``c`` to ``perm[c]`` (applied after ``mirror``);
    ``start`` is the window's first chart frame on the augmented time line (None: the validation rule)."""

    mirror: bool = False
    perm: tuple[int, ...] | None = None
    rate: float = 1.0
    start: int | None = None


class ManiaWindowDataset(torch.utils.data.Dataset):
    """Windows of the osu!mania charts of one split of one or more built datasets.

    An item is a dict of tensors (``W = cfg.window_frames``, ``F = len(features)``):

    ====== ================ ========= ===========================================================================
    key    shape            dtype     content
    ====== ================ ========= ===========================================================================
    x      (40, W)          float32   the chart window (:mod:`beatforge.charts.mania_tensor` layout), padded to
                                      10 columns (rows of columns >= keys are 0)
    valid  (W,)             float32   1 for frames up to the window's last note start / long-note end
    keys   ()               int64     key count
    tokens (F,)             int64     prompt feature ids (training: some dropped to "unspecified")
    mel    (128, 8 W)       float32   the same window of the log-mel (zeros past the audio's end); only with
                                      ``cfg.with_audio``
    rate   ()               float32   playback rate of the example (1.0 when not rate-augmented)
    start  ()               int64     the window's first chart frame (on the rate-changed time line)
    index  ()               int64     record number: :meth:`record`, :meth:`chart`, :meth:`mel_path`
    ====== ================ ========= ===========================================================================

    Args:
        dataset_dirs: built dataset directories (``index.jsonl`` inside).
        split: "train" or "val".
        cfg: the data config (window, keys, audio, augmentations).
        features: the prompt feature table.
        train: draw random windows and augmentations (else the deterministic validation window, no augmentation).
        multiple_of: ``window_frames`` must be a multiple of this (the model's total downsampling).
        seed: mixed into every worker's random generator.
    """

    def __init__(
        self,
        dataset_dirs: list[Path],
        split: str,
        cfg: Any,
        features: FeatureTable,
        *,
        train: bool,
        multiple_of: int,
        seed: int = 0,
    ) -> None:
        if split not in ("train", "val"):
            raise BeatforgeError(f"split must be 'train' or 'val', not '{split}'")
        w = int(cfg.window_frames)
        if w <= 0 or (multiple_of > 0 and w % multiple_of):
            raise BeatforgeError(
                f"data.window_frames {w} must be a positive multiple of {multiple_of} (the model's downsampling)"
            )
        if not dataset_dirs:
            raise BeatforgeError("data.dataset names no dataset directory")
        self.cfg = cfg
        self.features = features
        self.train = bool(train)
        self.split = split
        self.window = w
        self.seed = int(seed)
        self.rank = 0  # set by the DataModule under DDP so ranks draw different augmentations
        self.dirs: list[Path] = []
        self.records: list[dict] = []
        self._dir_of: list[int] = []
        counts = {"mania": 0, "split": 0, "keys": 0, "audio": 0}
        keys_allowed = set(cfg.keys) if cfg.keys else None
        for d in dataset_dirs:
            path = Path(d)
            if not path.is_dir():
                raise BeatforgeError(f"data.dataset {path}: no such folder (build one with 'beatforge dataset build')")
            records = read_index(path)  # BeatforgeError naming the folder when index.jsonl is missing
            self.dirs.append(path)
            for r in records:
                if r.get("mode") != "mania":
                    continue
                counts["mania"] += 1
                if r.get("split") != split:
                    continue
                counts["split"] += 1
                if keys_allowed is not None and r.get("keys") not in keys_allowed:
                    continue
                counts["keys"] += 1
                if cfg.with_audio and not r.get("mel_file"):
                    continue
                counts["audio"] += 1
                self.records.append(r)
                self._dir_of.append(len(self.dirs) - 1)
        if not self.records:
            raise BeatforgeError(self._empty_message(counts))
        self._notes: dict[int, np.ndarray] = {}  # per worker (each worker holds its own copy of the dataset)
        self._base_values: dict[int, dict[str, Any]] = {}
        self._base_tokens: dict[int, np.ndarray] = {}
        self._rng: np.random.Generator | None = None
        self._rng_owner: tuple[int, int] | None = None

    def _empty_message(self, counts: dict[str, int]) -> str:
        where = ", ".join(str(d) for d in self.dirs)
        name = "validation" if self.split == "val" else "training"
        if counts["mania"] == 0:
            return f"no osu!mania charts in {where} (was it built with --mode standard?)"
        if counts["split"] == 0:
            if self.split == "val":
                return (
                    f"no validation charts in {where}: the split is by song; build with more songs or a larger "
                    "--val-fraction"
                )
            return f"no training charts in {where}: every song is in the validation split (lower --val-fraction)"
        if counts["keys"] == 0:
            return f"no {name} charts in {where} with data.keys {list(self.cfg.keys)}"
        return (
            f"no {name} charts in {where} have audio (built with --audio none?); set data.with_audio=false to "
            "train without it"
        )

    # ------------------------------------------------------------------------------------------- records
    def __len__(self) -> int:
        return len(self.records)

    def record(self, index: int) -> dict:
        """The index record of item ``index``."""
        return self.records[index]

    def dataset_dir(self, index: int) -> Path:
        return self.dirs[self._dir_of[index]]

    def mel_path(self, index: int) -> Path | None:
        """The spectrogram file of item ``index`` ((128, T) float16), or None when it has none."""
        rel = self.records[index].get("mel_file")
        return self.dataset_dir(index) / rel if rel else None

    def notes(self, index: int) -> np.ndarray:
        """The (N, 3) note array [start ms, end ms or NaN, column] (cached in this process)."""
        arr = self._notes.get(index)
        if arr is None:
            arr = np.ascontiguousarray(load_notes(self.dataset_dir(index), self.records[index]), dtype=np.float64)
            order = np.lexsort((arr[:, 2], arr[:, 0]))  # stored sorted; made sure of for the window search
            arr = arr[order]
            self._notes[index] = arr
        return arr

    def chart(self, index: int):
        """The whole chart of item ``index`` at rate 1 (a ManiaChart, with the record's title and version)."""
        r = self.records[index]
        n = self.notes(index)
        meta = ChartMeta(title=r.get("title") or "", artist=r.get("artist") or "", creator=r.get("creator") or "",
                         version=r.get("version") or "", source_game=r.get("source_game") or "osu",
                         path=r.get("path") or "")
        return ManiaChart(int(r["keys"]), n[:, 0], n[:, 1], n[:, 2].astype(np.int64), meta=meta)

    # ------------------------------------------------------------------------------------------- features
    def _values(self, index: int) -> dict[str, Any]:
        vals = self._base_values.get(index)
        if vals is None:
            vals = _sanitize(values_from_record(self.records[index]), self.features)
            self._base_values[index] = vals
        return vals

    def tokens(self, index: int, rate: float = 1.0) -> np.ndarray:
        """(F,) int64 feature ids of the chart at a playback rate (no dropout). Rate 1 is cached."""
        if rate == 1.0:
            ids = self._base_tokens.get(index)
            if ids is None:
                ids = self.features.encode(self._values(index))
                self._base_tokens[index] = ids
            return ids
        return self.features.encode(self._values_at_rate(index, rate))

    def _values_at_rate(self, index: int, rate: float) -> dict[str, Any]:
        vals = dict(self._values(index))
        names = set(self.features.names)
        n = self.notes(index)
        chart = ManiaChart(int(self.records[index]["keys"]), n[:, 0], n[:, 1], n[:, 2].astype(np.int64))
        ratings = skillset_ratings(chart, rate=rate)
        flags = pattern_flags(ratings)
        update: dict[str, Any] = {"overall": round(ratings["overall"], 3)}
        for s in SKILLSETS:
            update[s] = round(ratings[s], 3)
            update[f"{s}_flag"] = flags[s]
        sr = self.records[index].get("star_rating")
        update["sr"] = sr_at_rate(float(sr), rate) if sr is not None else None
        vals.update({k: v for k, v in update.items() if k in names})
        return vals

    # ------------------------------------------------------------------------------------------- randomness
    def _generator(self) -> np.random.Generator:
        """This process's generator: from torch's per-worker seed in a DataLoader worker (different per worker
        and per epoch, reproducible under ``seed_everything(workers=True)``), else from torch's initial seed."""
        info = torch.utils.data.get_worker_info()
        owner = (info.id, info.seed) if info is not None else (-1, torch.initial_seed())
        if self._rng is None or self._rng_owner != owner:
            self._rng = np.random.default_rng([owner[1] % (1 << 64), self.rank, self.seed, owner[0] + 1])
            self._rng_owner = owner
        return self._rng

    def draw(self, index: int, rng: np.random.Generator) -> Augment:
        """A random augmentation and window for item ``index`` (training)."""
        a = self.cfg.train_augment
        keys = int(self.records[index]["keys"])
        mirror = bool(rng.random() < a.mirror_p)
        perm = tuple(int(p) for p in rng.permutation(keys)) if rng.random() < a.shuffle_p else None
        rate = 1.0
        lo, hi = float(a.rate[0]), float(a.rate[1])
        if rng.random() < a.rate_p and not lo == hi == 1.0:
            rate = float(rng.uniform(lo, hi))
        first, last = self._span_frames(index, rate)
        w = self.window
        s_lo = first - w // 4
        s_hi = max(last - w // 2, s_lo)
        start = max(int(rng.integers(s_lo, s_hi + 1)), 0)
        return Augment(mirror=mirror, perm=perm, rate=rate, start=start)

    def _span_frames(self, index: int, rate: float) -> tuple[int, int]:
        n = self.notes(index)
        first_ms = float(n[0, 0]) / rate
        last_ms = float(np.nanmax(np.fmax(n[:, 0], n[:, 1]))) / rate
        return math.floor(first_ms / FRAME_MS), math.floor(last_ms / FRAME_MS)

    def val_start(self, index: int) -> int:
        """The validation window's first frame: 16 frames before the first note (0 at the earliest)."""
        return max(0, self._span_frames(index, 1.0)[0] - VAL_LEAD_FRAMES)

    # ------------------------------------------------------------------------------------------- items
    def __getitem__(self, index) -> dict[str, torch.Tensor]:
        """``index`` is a record number, or an ``(epoch, index)`` pair from :class:`EpochSampler`: then the item's
        randomness comes from (seed, epoch, index) alone, so a resumed run draws exactly what the uninterrupted
        run would have, whatever the worker count."""
        if isinstance(index, (tuple, list)):
            epoch, index = int(index[0]), int(index[1])
            rng = np.random.default_rng([self.seed, epoch, index])
        else:
            index, rng = int(index), None
        if self.train:
            rng = rng or self._generator()
            return self.item(index, self.draw(index, rng), rng=rng)
        return self.item(index, Augment())

    def item(self, index: int, aug: Augment, *, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
        """Item ``index`` under a given augmentation. With ``rng`` (and ``train``), features are dropped at
        random; without it the tokens are the chart's own."""
        rec = self.records[index]
        keys = int(rec["keys"])
        w = self.window
        rate = float(aug.rate)
        notes = self.notes(index)
        starts, ends, cols = notes[:, 0], notes[:, 1], notes[:, 2].astype(np.int64)
        if rate != 1.0:
            starts, ends = starts / rate, ends / rate
        if aug.mirror:
            cols = keys - 1 - cols
        if aug.perm is not None:
            cols = np.asarray(aug.perm, dtype=np.int64)[cols]
        start = self.val_start(index) if aug.start is None else int(aug.start)
        offset_ms = start * FRAME_MS
        # Notes starting in the window (a 1 ms margin each side; encode drops what is outside exactly).
        i0, i1 = np.searchsorted(starts, [offset_ms - 1.0, offset_ms + w * FRAME_MS + 1.0])
        window = ManiaChart(keys, starts[i0:i1], ends[i0:i1], cols[i0:i1])
        x = mania_tensor.pad_keys(mania_tensor.encode(window, n_frames=w, offset_ms=offset_ms), keys, MAX_KEYS)
        valid = mania_tensor.valid_mask(window, n_frames=w, offset_ms=offset_ms)

        tokens = self.tokens(index, rate)
        if self.train and rng is not None:
            tokens = self.features.drop(tokens, self.cfg.train_augment.feature_dropout_p, rng)
        out = {
            "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            "valid": torch.from_numpy(valid),
            "keys": torch.tensor(keys, dtype=torch.int64),
            "tokens": torch.from_numpy(np.array(tokens, dtype=np.int64)),  # a copy: rate-1 ids are cached
            "rate": torch.tensor(rate, dtype=torch.float32),
            "start": torch.tensor(start, dtype=torch.int64),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.cfg.with_audio:
            out["mel"] = torch.from_numpy(self._mel_window(index, start, rate))
        return out

    def _mel_window(self, index: int, start: int, rate: float) -> np.ndarray:
        """(128, 8 W) float32: mel frames ``8 start ..`` of the song played at ``rate`` (zeros past its end)."""
        n_out = self.window * MEL_HOPS_PER_FRAME
        out_first = start * MEL_HOPS_PER_FRAME
        path = self.mel_path(index)
        if path is None:
            return np.zeros((N_MELS, n_out), dtype=np.float32)
        mel = np.load(path, mmap_mode="r", allow_pickle=False)
        t_len = mel.shape[1]
        if rate == 1.0:
            a, b = min(out_first, t_len), min(out_first + n_out, t_len)
            return _pad_time(_f16_to_f32(mel[:, a:b]), n_out)
        # Output frame j (centred at j * hop on the new time line) is input position j * rate: linear
        # interpolation between its two neighbours, reading only the input slice those positions span, and
        # computing only the frames before the audio's end (the rest stay zero).
        pos = (out_first + np.arange(n_out, dtype=np.float64)) * rate
        n_in = int(np.searchsorted(pos, t_len - 1, side="left"))  # frames whose right neighbour exists
        if n_in == 0:
            return np.zeros((N_MELS, n_out), dtype=np.float32)
        pos = pos[:n_in]
        i0 = np.floor(pos).astype(np.int64)
        frac = (pos - i0).astype(np.float32)
        a = int(i0[0])
        src = _f16_to_f32(mel[:, a : int(i0[-1]) + 2])
        j = i0 - a
        left = np.take(src, j, axis=1)
        right = np.take(src, j + 1, axis=1)
        right -= left
        right *= frac
        left += right
        return _pad_time(left, n_out)


# float16 -> float32 by table: numpy's astype takes ~5 ns a value (20 ms for a 190 s window), a table look-up ~1.3.
_F16_TABLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


def _f16_to_f32(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype != np.float16:
        return np.asarray(a, dtype=np.float32)
    return np.take(_F16_TABLE, np.ascontiguousarray(a).view(np.uint16))


def _pad_time(arr: np.ndarray, n: int) -> np.ndarray:
    """(C, t) -> (C, n) with zeros after t (t <= n)."""
    if arr.shape[1] == n:
        return arr
    out = np.zeros((arr.shape[0], n), dtype=np.float32)
    out[:, : arr.shape[1]] = arr
    return out


def _sanitize(values: dict[str, Any], features: FeatureTable) -> dict[str, Any]:
    """The values the table knows, with category values it does not list (a status such as "approved")
    set to unspecified rather than failing a training run."""
    out: dict[str, Any] = {}
    for f in features.features:
        v = values.get(f.name)
        if v is not None and f.type == "category":
            try:
                f.local_id(v)
            except FeatureError:
                v = None
        out[f.name] = v
    return out


# ================================================================================================ DataModule
class ManiaDataModule(L.LightningDataModule):
    """Train and validation windows of ``cfg.data.dataset`` for a Lightning trainer.

    The datasets are built at construction, so a bad config or an empty split fails before any model is made.
    ``window_frames`` must be a multiple of the VAE's and the UNet's downsampling together.
    """

    def __init__(self, cfg: Any, features: FeatureTable) -> None:
        super().__init__()
        self.cfg = cfg
        self.features = features
        d = cfg.data
        multiple_of = latent_stride(cfg) * 2 ** (len(cfg.model.params.unet_config.channel_mult) - 1)
        dirs = [Path(p) for p in d.dataset]
        self.train_set = ManiaWindowDataset(
            dirs, "train", d, features, train=True, multiple_of=multiple_of, seed=cfg.seed
        )
        self.val_set = ManiaWindowDataset(dirs, "val", d, features, train=False, multiple_of=multiple_of, seed=cfg.seed)
        self.val_indices = _spread(len(self.val_set), d.max_val_charts)

    def setup(self, stage: str | None = None) -> None:
        trainer = getattr(self, "trainer", None)
        rank = int(getattr(trainer, "global_rank", 0) or 0) if trainer is not None else 0
        self.train_set.rank = self.val_set.rank = rank

    def _loader(self, dataset, *, shuffle: bool, drop_last: bool) -> torch.utils.data.DataLoader:
        d = self.cfg.data
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=d.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=d.num_workers,
            persistent_workers=d.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        n = len(self.train_set)
        d = self.cfg.data
        trainer = getattr(self, "trainer", None)
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = EpochSampler(n, seed=self.cfg.seed, rank=rank, world_size=world)
        return torch.utils.data.DataLoader(
            self.train_set,
            batch_size=d.batch_size,
            sampler=sampler,
            drop_last=len(sampler) >= d.batch_size,
            num_workers=d.num_workers,
            persistent_workers=d.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        ds = self.val_set
        if len(self.val_indices) < len(ds):
            ds = torch.utils.data.Subset(self.val_set, self.val_indices)
        return self._loader(ds, shuffle=False, drop_last=False)


class EpochSampler(torch.utils.data.Sampler):
    """Shuffled ``(epoch, index)`` pairs, this rank's share of them.

    The order is a permutation drawn from (seed, epoch) only, and each pair carries its epoch so the dataset can
    seed the item's augmentation from it: a run resumed at any epoch boundary sees exactly the batches the
    uninterrupted run saw (torch's shuffling and per-worker seeds depend on the RNG state and on whether workers
    persist). Ranks take interleaved slices of one permutation (padded by wrapping, as DistributedSampler), so
    Lightning must not replace it (``use_distributed_sampler=False``). Lightning calls :meth:`set_epoch`.
    """

    def __init__(self, n: int, *, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, int(seed), int(rank), max(int(world_size), 1)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(self.n / self.world)

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch, 7919]).permutation(self.n)
        total = len(self) * self.world
        order = np.resize(order, total)  # wrap to a multiple of the world size
        return iter([(self.epoch, int(i)) for i in order[self.rank :: self.world]])


def _spread(n: int, limit: int | None) -> list[int]:
    """``limit`` record numbers spread evenly over ``range(n)`` (all of them without a limit)."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit <= 0:
        raise BeatforgeError("data.max_val_charts must be at least 1")
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, limit)})
