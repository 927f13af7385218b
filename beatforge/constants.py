"""Audio and chart constants: the single home of every derived time unit.

Mug Diffusion's values are kept (22.05 kHz, n_fft 512, hop 128, 128 mels, 8 mel hops per chart frame),
so a chart frame is 1024 samples = 46.44 ms. Everything else is computed from these, never retyped.
"""

SAMPLE_RATE: int = 22050
N_FFT: int = 512
HOP_LENGTH: int = 128
N_MELS: int = 128
MEL_HOPS_PER_FRAME: int = 8

MEL_HOP_MS: float = HOP_LENGTH / SAMPLE_RATE * 1000.0  # 5.805 ms
FRAME_MS: float = MEL_HOP_MS * MEL_HOPS_PER_FRAME  # 46.44 ms

MIN_KEYS: int = 1
MAX_KEYS: int = 10

# Audio longer than this is rejected: no rhythm-game song is 20 minutes, and a 2-hour file would take
# gigabytes once decoded.
MAX_AUDIO_SECONDS: float = 20 * 60.0

# Archive limits (zip-bomb protection): total uncompressed bytes and member count.
MAX_ARCHIVE_BYTES: int = 1 << 30
MAX_ARCHIVE_MEMBERS: int = 2000
MAX_COMPRESSION_RATIO: float = 200.0
