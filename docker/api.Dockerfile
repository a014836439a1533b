# The API image: CPU only. Serving small GANs is cheap; training happens in the worker image.
# Build from the repository root:  docker build -f docker/api.Dockerfile -t ganserve-api .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GAN_DATA_DIR=/data \
    GAN_PRETRAINED_DIR=/app/pretrained

# torch first, from the CPU index: `pip install .` would otherwise fetch the multi-GB CUDA
# build from PyPI. Its own layer, so code changes do not download it again.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app
COPY . /app
RUN pip install . \
    && mkdir -p /app/pretrained

# Same uid as the worker image: both write to the shared /data volume.
RUN useradd --create-home --uid 1000 ganserve \
    && mkdir -p /data \
    && chown ganserve:ganserve /data
USER ganserve
VOLUME ["/data"]

EXPOSE 8000
# python:slim has no curl; urlopen raises (exit 1) on connection errors and non-2xx answers.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
