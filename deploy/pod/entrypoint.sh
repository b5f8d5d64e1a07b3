#!/usr/bin/env bash
# Start vLLM (tool calling on, thinking off per request), wait for it, then exec the worker API.
# Environment: see deploy/pod/README.md. Never echo SIMSWARM_POD_TOKEN or S3 keys.
set -euo pipefail

MODEL="${SIMSWARM_MODEL:-Qwen/Qwen3-14B}"
MAX_MODEL_LEN="${SIMSWARM_MAX_MODEL_LEN:-16384}"
GPU_MEM="${SIMSWARM_GPU_MEMORY_UTILIZATION:-0.90}"
MAX_SEQS="${SIMSWARM_MAX_NUM_SEQS:-256}"
VLLM_PORT=8000
WORKER_PORT="${SIMSWARM_WORKER_PORT:-8081}"
HF_CACHE="${HF_HOME:-/models/hf-cache}"
log() { echo "$(date -u +%FT%TZ) simswarm-pod: $*" >&2; }

if [[ -z "${SIMSWARM_POD_TOKEN:-}" ]]; then
  log "SIMSWARM_POD_TOKEN is not set; refusing to start an unauthenticated worker"
  exit 2
fi

# 1. Weights: the object store's mirror first (fast, no hub rate limits), the hub as a fallback.
if [[ -n "${S3_ENDPOINT:-}" && -n "${S3_BUCKET:-}" ]]; then
  log "pulling ${MODEL} from the object store's models/hf-cache/ mirror"
  repo_dir="models--${MODEL//\//--}"
  if AWS_ACCESS_KEY_ID="${S3_ACCESS_KEY:-}" AWS_SECRET_ACCESS_KEY="${S3_SECRET_KEY:-}" \
     AWS_DEFAULT_REGION="${S3_REGION:-us-east-1}" \
     aws s3 sync --only-show-errors --endpoint-url "${S3_ENDPOINT}" \
       "s3://${S3_BUCKET}/models/hf-cache/hub/${repo_dir}" "${HF_CACHE}/hub/${repo_dir}"; then
    log "mirror sync done"
  else
    log "mirror sync failed; vLLM will download from the hub"
  fi
else
  log "no object store configured (S3_ENDPOINT/S3_BUCKET); vLLM will download from the hub"
fi

# 2. vLLM on loopback. hermes is the tool-call parser for Qwen3; thinking is disabled per request
#    by the worker (chat_template_kwargs.enable_thinking=false).
log "starting vLLM for ${MODEL}"
vllm serve "${MODEL}" \
  --host 127.0.0.1 --port "${VLLM_PORT}" \
  --served-model-name "${MODEL}" \
  --enable-auto-tool-choice --tool-call-parser hermes \
  --max-model-len "${MAX_MODEL_LEN}" \
  --max-num-seqs "${MAX_SEQS}" \
  --gpu-memory-utilization "${GPU_MEM}" \
  --enable-prefix-caching \
  --disable-log-requests \
  ${SIMSWARM_VLLM_EXTRA_ARGS:-} &
VLLM_PID=$!
trap 'kill -TERM ${VLLM_PID} 2>/dev/null || true' EXIT

# 3. Wait for /v1/models (weights downloaded and loaded); give up after SIMSWARM_VLLM_START_TIMEOUT_S.
deadline=$(( $(date +%s) + ${SIMSWARM_VLLM_START_TIMEOUT_S:-1800} ))
models_up() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' \
    "http://127.0.0.1:${VLLM_PORT}/v1/models" >/dev/null 2>&1
}
until models_up; do
  if ! kill -0 "${VLLM_PID}" 2>/dev/null; then log "vLLM exited during start-up"; exit 1; fi
  if (( $(date +%s) > deadline )); then log "vLLM did not answer /v1/models in time"; exit 1; fi
  sleep 5
done
log "vLLM is ready"

# 4. The worker API. The token stays in the environment (never on a command line).
export SIMSWARM_LLM_URL="http://127.0.0.1:${VLLM_PORT}/v1"
export SIMSWARM_MODEL="${MODEL}"
trap - EXIT
exec python -m engine.worker --host 0.0.0.0 --port "${WORKER_PORT}"
