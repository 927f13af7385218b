"""Every unit, limit and word of beatforge, in one place: what the code, the CLI, the page and the docs share.

Mug Diffusion's audio values are kept (22.05 kHz, n_fft 512, hop 128, 128 mels, 8 mel hops per chart frame),
so a chart frame is 1024 samples = 46.44 ms. Everything else is computed from these, never retyped.
"""

# ------------------------------------------------------------------------------------------------ audio, time units
SAMPLE_RATE: int = 22050
N_FFT: int = 512
HOP_LENGTH: int = 128
N_MELS: int = 128
MEL_HOPS_PER_FRAME: int = 8  # one chart frame of the latent diffusion model's VAE

MEL_HOP_MS: float = HOP_LENGTH / SAMPLE_RATE * 1000.0  # 5.805 ms
FRAME_MS: float = MEL_HOP_MS * MEL_HOPS_PER_FRAME  # 46.44 ms

# The rhythm (onset) network's output frame: 2 mel hops = 11.61 ms
RHYTHM_MEL_HOPS_PER_STEP: int = 2
RHYTHM_STEP_MS: float = MEL_HOP_MS * RHYTHM_MEL_HOPS_PER_STEP
RHYTHM_DENSITY_RANGE: tuple[float, float] = (0.2, 16.0)  # onsets per second the rhythm network's conditioning covers

# The onset-strength envelope (librosa's spectral flux) that timing estimation and the evaluator's audio onsets read:
# a short window keeps the flux peak within ~15 ms of the attack; 64 mel bands are librosa's onset default's scale.
ONSET_HOP: int = 128
ONSET_N_FFT: int = 512
ONSET_N_MELS: int = 64

# The audio a generated set carries (.osz and beside the .osu files): osu! plays mp3 and ogg, which are copied byte for
# byte; anything else (flac, wav, m4a, opus ...) and a Frets on Fire song's stems (mixed, in stereo) become Ogg Vorbis
# at this libvorbis quality (-q:a 6: ~192 kbps nominal for 44.1 kHz stereo, above the 128-160 kbps of osu! and Frets
# on Fire songs), through ffmpeg, which is given AUDIO_EXPORT_TIMEOUT_S per run
OSU_AUDIO_SUFFIXES: tuple[str, ...] = (".mp3", ".ogg")
# "...have an average bit rate no greater than 192 kbps for .mp3 files, or 208 kbps for .ogg files." and "...no lower
# than 128 kbps, if such a source exists." (osu! wiki, Ranking_criteria, Audio rules): the checker's limits, and the
# set's audio is transcoded where the source is over them
OSU_MAX_AUDIO_KBPS: dict[str, float] = {".mp3": 192.0, ".ogg": 208.0}
OSU_MIN_AUDIO_KBPS: float = 128.0
EXPORT_VORBIS_QUALITY: int = 6
AUDIO_EXPORT_TIMEOUT_S: float = 600.0

# ------------------------------------------------------------------------------------------------ charts
MIN_KEYS: int = 1
MAX_KEYS: int = 10

# osu!standard's playfield in osu! pixels (x, y)
PLAYFIELD: tuple[float, float] = (512.0, 384.0)

# ------------------------------------------------------------------------------------------------ requests
# The star ratings a generation request may ask for (rosu-pp-py's scale; human Beginner charts rate 0.6-0.9).
# A model's prompt buckets are part of its model file (its feature table), not of this range.
STAR_RATING_RANGE: tuple[float, float] = (0.5, 8.0)
MSD_RANGE: tuple[float, float] = (5.0, 35.0)  # skillset ratings (Etterna's MSD scale) a request may ask for
MAX_CHARTS_PER_RUN: int = 32
MAX_STEPS: int = 1000  # sampler steps of either diffusion model
GUIDANCE_RANGE: tuple[float, float] = (0.0, 30.0)
LN_RATIO_RANGE: tuple[float, float] = (0.0, 1.0)
MIN_JACK_MS_RANGE: tuple[float, float] = (0.0, 1000.0)
BPM_RANGE: tuple[float, float] = (20.0, 1000.0)

# Audio longer than this is rejected: no rhythm-game song is 20 minutes, and a 2-hour file would take
# gigabytes once decoded. Shorter than MIN_AUDIO_SECONDS has no chart to make.
MAX_AUDIO_SECONDS: float = 20 * 60.0
MIN_AUDIO_SECONDS: float = 5.0
# A chart meets its requested star rating when within this many stars of it; past it, the chart says what was asked,
# what was reached and why (meta.extra["StarRatingMiss"], printed by `beatforge generate`). The search aims at 0.05.
STAR_RATING_TOLERANCE: float = 0.15

# ------------------------------------------------------------------------------------------------ words
# Etterna's seven skillsets (MSD), the names prompts, analysis and the page use
SKILLSETS: tuple[str, ...] = ("stream", "jumpstream", "handstream", "stamina", "jackspeed", "chordjack", "technical")
PATTERN_WAYS: tuple[str, ...] = ("more", "less")  # --pattern SKILLSET=more|less
# osu!mania map types by long-note share, and the share each one asks for when no --ln-ratio is given
LN_RATIO_OF_MAP_TYPE: dict[str, float] = {"rice": 0.0, "hybrid": 0.3, "ln": 0.7}
MAP_TYPES: tuple[str, ...] = tuple(LN_RATIO_OF_MAP_TYPE)
# Mug Diffusion's "style": the rank status of the charts a model should imitate
STYLES: tuple[str, ...] = ("ranked", "loved", "graveyard")
# Where a chart's note times come from (--rhythm): the note selector over pretrained onset/beat activations, the
# rhythm network with the hand-written beat-grid rules, or the latent diffusion model's own decoded notes
RHYTHM_SOURCES: tuple[str, ...] = ("selector", "network", "diffusion")
# Where inference runs (--device): "auto" takes the GPU when torch sees one (CUDA, else Apple's MPS), else the CPU
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
# The note selector's training steps (`beatforge rhythm train --selector-steps`): what the 3-fold CV by song of
# `benchmarks/rhythm_cv.py --ship` chose for the shipped models/selector
SELECTOR_TRAIN_STEPS: int = 1000
# Audio file names that say nothing about the song: its folder names it instead
GENERIC_STEMS: frozenset[str] = frozenset({"audio", "song", "music", "track", "bgm"})

# ------------------------------------------------------------------------------------------------ ranking criteria
# The osu!mania difficulty levels the Ranking Criteria names (osu! wiki, Ranking_criteria/osu!mania), easiest first:
# `beatforge check --level`, and the level each generated difficulty is meant to be
DIFFICULTY_LEVELS: tuple[str, ...] = ("easy", "normal", "hard", "insane", "expert")
# The star rating each level starts at (osu! wiki, Beatmap/Difficulty: Easy < 2.0, Normal 2.0-2.69, Hard 2.7-3.99,
# Insane 4.0-5.29, Expert >= 5.3): the level of a chart whose name does not say it
LEVEL_STAR_FLOORS: dict[str, float] = {"easy": 0.0, "normal": 2.0, "hard": 2.7, "insane": 4.0, "expert": 5.3}
# "Beatmaps can only use 4-10, 12, 14, 16, or 18 keys." (Ranking_criteria/osu!mania, Overall rules)
RANKABLE_KEY_COUNTS: tuple[int, ...] = (4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18)
# `beatforge check --strict`'s exit status when a problem was found (0: none; 2: bad input; 1: a bug of beatforge's)
CHECK_PROBLEMS_EXIT: int = 3

# ------------------------------------------------------------------------------------------------ archives
# Archive limits (zip-bomb protection): total uncompressed bytes and member count.
MAX_ARCHIVE_BYTES: int = 1 << 30
MAX_ARCHIVE_MEMBERS: int = 2000
MAX_COMPRESSION_RATIO: float = 200.0
# The audio member of an .osz given as the song to chart (extracted alone): 20 minutes of 48 kHz stereo 16-bit WAV
MAX_ARCHIVE_AUDIO_BYTES: int = 256 << 20
# The charts one archive may hold, and their expanded bytes together (a ranked set has at most a few dozen
# difficulties of a few MB): every chart of a set is parsed to list it, so this bounds the work of opening one
MAX_ARCHIVE_CHARTS: int = 256
MAX_ARCHIVE_CHART_BYTES: int = 256 << 20
# Ratios are only judged above this many expanded bytes (tiny members compress oddly either way)
COMPRESSION_CHECK_BYTES: int = 64 << 10
# Small files a user names: a model's model.json / beatmap_idx.json / styles.json / model.yaml, an ID list
MAX_SMALL_FILE_BYTES: int = 16 << 20
# A dataset's index.jsonl (one line per chart: a million charts fit)
MAX_INDEX_BYTES: int = 1 << 30

# ------------------------------------------------------------------------------------------------ chart budget
# What every chart reader accepts from a file (a stranger's file may hold 1e300, inf, NaN or a MIDI delta of
# days): note and timing-point times within +-MAX_CHART_MS of the audio's start, and at most MAX_CHART_NOTES
# notes per chart. A day is far beyond any real chart (the longest marathons last a few hours) yet keeps a
# chart's analysis small (a strain bin per 500 ms: 173k bins); 500,000 notes is ten times the largest ones.
MAX_CHART_MS: float = 24 * 3600 * 1000.0
MAX_CHART_NOTES: int = 500_000
# An osu! slider: control points, repeats and pixel length (ranked sliders have tens of points and a few thousand
# px; past these, drawing one costs gigabytes)
MAX_SLIDER_POINTS: int = 1024
MAX_SLIDER_SLIDES: int = 1000
MAX_SLIDER_LENGTH: float = 1e6
# The objects one `beatforge remap` run takes (the longest ranked marathons have ~10,000; 200,000 took 228 s and 8 GB)
MAX_REMAP_OBJECTS: int = 20_000
# --offset: the first beat line within an hour of the audio's start
MAX_OFFSET_MS: float = 3_600_000.0
# The tempo a beat-based chart file may declare (every note's time is beat x 60 / BPM: 1e300 stacks them all at 0)
CHART_BPM_RANGE: tuple[float, float] = (1.0, 100_000.0)

# ------------------------------------------------------------------------------------------------ generated sets
# HP drain and overall difficulty of a generated chart, by the level its star rating falls in: what ranked osu!mania
# sets use (Renatus: Normal 7/7, Hyper 7.5/7.5, Another 8/8; the Expert maps of ../shared/data/mania 8-8.5 / 8-9),
# each at most the Ranking Criteria's cap of its own level and of the level below (Easy 7, Normal 7.5, Hard 8), so a
# chart judged one level lower still meets it
LEVEL_HP_OD: dict[str, tuple[float, float]] = {
    "easy": (6.0, 6.0), "normal": (7.0, 7.0), "hard": (7.5, 7.5), "insane": (8.0, 8.0), "expert": (8.0, 8.5),
}
# The background image a generated set carries (the Ranking Criteria ask every difficulty for one; osu!'s own size)
GENERATED_BACKGROUND: str = "bg.jpg"
BACKGROUND_SIZE: tuple[int, int] = (1920, 1080)
# Where a generated set's preview starts: the 10-second stretch its charts fill most densely (the song's busiest part)
PREVIEW_WINDOW_MS: float = 10_000.0
