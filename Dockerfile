# beatforge on a CUDA machine: the image Mug Diffusion's guide calls `mug-diffusion-gpu`.
#
#   docker build -t mug-diffusion-gpu .
#   docker run --rm --gpus all -p 7860:7860 mug-diffusion-gpu            # the web page (beatforge ui)
#   docker run --rm --gpus all -v "$(pwd)/my_processed_dataset":/app/data/my_dataset -v "$(pwd)/logs":/app/logs \
#     mug-diffusion-gpu python main.py --train -b configs/your_new_model_config.yaml --gpus 0,
#
# docs/docker.md has the rest. The install step is the README's own (`make install`), which CI runs on every
# change, so the image installs what the tests install. On this base, `pip install torch==2.13.0` takes PyPI's
# CUDA build (the CPU-only machines that run CI take the CPU build of the same version).
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    GRADIO_ANALYTICS_ENABLED=False

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv python3-dev make git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
# The README's install: Debian packages (scripts/install_system_deps.sh, runtime only: the browser is for tests),
# then a virtual environment with torch pinned and beatforge installed.
RUN make install PY=python3 SYSTEM_DEPS_ARGS=--runtime && rm -rf /root/.cache

ENV PATH=/app/.venv/bin:$PATH
# The guide's volume layout: datasets under /app/data/..., runs written to /app/logs (the default --logdir "logs").
RUN mkdir -p /app/data /app/logs
VOLUME ["/app/data", "/app/logs"]
EXPOSE 7860
CMD ["beatforge", "ui", "--host", "0.0.0.0", "--port", "7860"]
