# The training worker image: CUDA. Needs the NVIDIA container toolkit on the host
# (docker-compose.yml reserves the GPUs). Build from the repository root:
#   docker build -f docker/worker.Dockerfile -t ganserve-worker .
# The torch wheel bundles its own CUDA libraries; the base image supplies the NVIDIA_* settings
# the container toolkit reads. Keep TORCH_CUDA and the base image's CUDA major version together.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_CUDA=cu128
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    GAN_DATA_DIR=/data \
    GAN_PRETRAINED_DIR=/app/pretrained

# Ubuntu 24.04's python3 is 3.12 (the project needs >= 3.11). A venv, because the system
# Python is marked externally managed (PEP 668).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv

# torch first, from the CUDA index, in its own (large) layer.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/${TORCH_CUDA}

WORKDIR /app
COPY . /app
RUN pip install . \
    && mkdir -p /app/pretrained

# Same uid as the API image: both write to the shared /data volume. Ubuntu 24.04 images ship
# a user "ubuntu" with that uid; it goes first.
RUN (userdel --remove ubuntu 2>/dev/null || true) \
    && useradd --create-home --uid 1000 ganserve \
    && mkdir -p /data \
    && chown ganserve:ganserve /data
USER ganserve
VOLUME ["/data"]

# Celery's warm shutdown on SIGTERM lets the running job checkpoint and go back to the queue;
# docker-compose.yml gives it stop_grace_period to do so.
STOPSIGNAL SIGTERM
CMD ["celery", "-A", "worker.celery_app", "worker", "--loglevel=INFO", "--concurrency=1", "--prefetch-multiplier=1", "-O", "fair"]
