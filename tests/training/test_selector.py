"""The note selector learns from charts: on a synthetic click-track dataset it picks the clicks over louder noise,
follows the requested density, and its model file round-trips (safetensors + YAML, features checked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from beatforge.charts.chart import TimingPoint
from beatforge.checkpoints import ModelFileError
from beatforge.generation.learned.note_selector import load_selector, select_notes
from beatforge.generation.learned.pretrained_audio import Activations
from beatforge.generation.rules.candidates import candidates
from beatforge.training.selector import SelectorItem, save_selector, train_selector

BEAT = 500.0


def _song(seed: int, seconds: float = 40.0):
    """SYNTHETIC: a click on every beat, a louder noise burst off the grid every ~1.3 s; charts chart the clicks
    (all of them, or only every other one: a sparser chart)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 100)
    t = np.arange(n) * 10.0
    clicks = np.arange(BEAT, seconds * 1000 - BEAT, BEAT)
    noise = np.sort(rng.uniform(200, seconds * 1000 - 200, int(seconds / 1.3)))
    noise = noise[np.min(np.abs(noise[:, None] - np.arange(0, seconds * 1000, BEAT / 4)[None]), axis=1) > 40]
    on = np.zeros(n)
    for c in clicks:
        on = np.maximum(on, 0.7 * np.exp(-0.5 * ((t - c) / 10.0) ** 2))
    for c in noise:
        on = np.maximum(on, 0.95 * np.exp(-0.5 * ((t - c) / 10.0) ** 2))
    beat = sum(np.exp(-0.5 * ((t - c) / 15.0) ** 2) for c in clicks)
    acts = Activations(on.astype(np.float32), np.asarray(beat, np.float32), np.asarray(beat, np.float32))
    y = rng.normal(0, 0.05, int(seconds * 22050)).astype(np.float32)
    cands = candidates(acts, y, [TimingPoint(0.0, BEAT)], seconds * 1000)
    return cands, clicks, noise


def test_the_selector_picks_the_clicks_over_the_noise(tmp_path: Path) -> None:
    items = []
    for s in range(4):
        cands, clicks, _ = _song(s)
        items += [SelectorItem(f"song{s}", cands, clicks), SelectorItem(f"song{s}", cands, clicks[::2])]
    net, losses = train_selector(items, steps=200, batch_size=1024, seed=0)
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    cands, clicks, noise = _song(9)  # a song it never saw
    span_beats = (clicks[-1] - clicks[0]) / BEAT + 1
    got = select_notes(net, cands, len(clicks), span_beats)
    hit = np.min(np.abs(got[:, None] - clicks[None]), axis=1) <= 30
    assert hit.mean() > 0.95  # the clicks, not the louder noise
    assert np.min(np.abs(got[:, None] - noise[None]), axis=1).min() > 30
    save_selector(net, tmp_path / "sel", meta={"test": True})
    back = load_selector(tmp_path / "sel")
    np.testing.assert_array_equal(select_notes(back, cands, 40, span_beats), select_notes(net, cands, 40, span_beats))


def test_a_selector_trained_on_other_features_is_refused(tmp_path: Path) -> None:
    cands, clicks, _ = _song(0)
    net, _ = train_selector([SelectorItem("s", cands, clicks)], steps=5)
    save_selector(net, tmp_path / "sel", meta={})
    text = (tmp_path / "sel" / "model.yaml").read_text(encoding="utf-8").replace("- onset_rank\n", "")
    (tmp_path / "sel" / "model.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ModelFileError, match="other candidate features"):
        load_selector(tmp_path / "sel")


def test_latency_and_chord_split_are_learned_from_the_training_charts() -> None:
    """The grid latency is the median over songs (one figure per song, so a song of many charts counts once) and
    the chord split a least-squares fit of notes per distinct time on the star rating and key count."""
    from beatforge.generation.rules.candidates import SONG_FEATURES, Candidates
    from beatforge.training.selector import fit_chord_split, median_latency

    cands = Candidates(np.arange(10.0) * 100, np.zeros((10, len(SONG_FEATURES)), np.float32), 500.0)
    times = np.arange(0.0, 1000.0, 100.0)

    def item(song, offset, sr, keys, per_time):
        return SelectorItem(song, cands, times, offset, keys=keys, star_rating=sr,
                            n_notes=int(round(len(times) * per_time)))

    items = [item("a", 5.0, 1.0, 4, 1.0), item("a", 5.0, 2.2, 4, 1.2), item("b", 7.0, 3.2, 4, 1.4),
             item("c", 30.0, 4.2, 7, 1.6),
             item("d", None, 2.0, 4, 1.16)]
    assert median_latency(items) == 7.0  # a, b, c: 5, 7, 30
    coef = fit_chord_split(items)
    assert coef.shape == (2,) and np.all(np.isfinite(coef))
    net, _ = train_selector(items, steps=2)
    assert float(net.latency_ms) == 7.0
    assert net.chord_ratio(1.0, 4) == 1.0  # no chords below 1.2 stars
    assert 1.15 < net.chord_ratio(2.2, 4) < 1.3 and net.chord_ratio(9.0, 4) <= 4.0


def test_index_paths_of_multi_chart_files_name_their_file(tmp_path) -> None:
    """A Frets on Fire or StepMania record's path carries its difficulty (``notes.mid#Medium``): the note selector
    loads the file itself (it skipped 8 of the 12 songs of ../shared/data when it did not)."""
    from beatforge.training.selector import _chart_file

    mid = tmp_path / "notes.mid"
    mid.write_bytes(b"")
    assert _chart_file(f"{mid}#Medium") == str(mid)
    assert _chart_file(f"{tmp_path / 'set.osz'}::a.osu") == str(tmp_path / "set.osz")
    odd = tmp_path / "song#1.ogg"  # a file whose own name holds '#'
    odd.write_bytes(b"")
    assert _chart_file(str(odd)) == str(odd)
