# The two commands of the README: `make demo` (the main job) and `make test` (the suite).
# Each creates .venv and installs what it needs by itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Second environment standing for Ubuntu 24.04 + ROS 2 Jazzy: Jazzy wheels, numpy 1.26, OpenCV 4.10, no torch.
JAZZY_VENV := .venv-jazzy
JAZZY_PY := $(JAZZY_VENV)/bin/python
JAZZY_STAMP := $(JAZZY_VENV)/.installed
JAZZY_TESTS := test/node test/runtime test/model_tools test/drivable test/rosbag test/evaluation test/bench test/harness
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-jazzy test-gpu lint format bench bench-gpu soak train ablation evaluate export clean

$(STAMP): requirements.txt setup.py setup.cfg package.xml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(JAZZY_STAMP): requirements-jazzy.txt setup.py setup.cfg package.xml
	test -x $(JAZZY_PY) || $(PYTHON) -m venv $(JAZZY_VENV)
	$(JAZZY_PY) -m pip install --quiet -r requirements-jazzy.txt
	$(JAZZY_PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(JAZZY_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/stdc-ros demo

test: $(STAMP) $(JAZZY_STAMP)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --no-cache --check .
	$(PY) -m pytest -q
	$(JAZZY_PY) -m pytest -q $(JAZZY_TESTS)

test-jazzy: $(JAZZY_STAMP)
	$(JAZZY_PY) -m pytest -q $(JAZZY_TESTS)

test-gpu: $(STAMP)
	$(PY) -m pytest -q -m "gpu or tensorrt" -rs

lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --no-cache --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The peer runtime (OpenVINO) and threadpoolctl (names numpy's BLAS kernel) are optional extras of the benchmark.
BENCH_STAMP := $(VENV)/.bench-extras
$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet "openvino==2026.4.1" "threadpoolctl==3.8.0" && touch $(BENCH_STAMP) \
		|| echo "openvino/threadpoolctl not installed: the bench skips the OpenVINO rows and the BLAS kernel name"

bench: $(STAMP) $(BENCH_STAMP)
	$(VENV)/bin/stdc-ros bench

# GPU benchmark (one command, under 8 minutes) on a machine with an NVIDIA GPU: the Python given here with its own
# torch (CUDA) and onnxruntime-gpu, run from this tree (not .venv, whose CPU pins would replace the CUDA builds).
GPU_PYTHON ?= python3
bench-gpu:
	PYTHONPATH=$(CURDIR) $(GPU_PYTHON) -m stdc_ros.bench.gpu -o runs/bench/bench_gpu.json

soak: $(STAMP)
	$(VENV)/bin/stdc-ros soak

# The CamVid recipe (training/configs, models/NOTES.md): decide on val, then the final run on train + val, each
# resumable from its last.pt under $STDC_RUNS (default ~/stdc_runs): run `make train` again to carry on.
# MINUTES=N stops (and saves) after N minutes; 0: no limit.
MINUTES ?= 0
train: $(STAMP)
	$(PY) -m training.recipe --max-minutes $(MINUTES)

ablation: $(STAMP)
	$(PY) -m training.ablation --config training/configs/camvid_ablation.yaml --resume

# A GPU stretch of the final run: `make pack` here (CamVid train + val, WebP 90: 22 MiB), carry build/ to a machine
# with one NVIDIA GPU, `make train-gpu` there (plain python3, no venv), then `make train-from-gpu` here.
PACK ?= build/camvid_trainval.tar
GPU_RUN ?= /tmp/stdc_gpu_run
HANDOFF ?= $(GPU_RUN)/handoff
GPU_MINUTES ?= 8
.PHONY: pack train-gpu train-from-gpu
pack: $(STAMP)
	$(PY) -m training.pack --out $(PACK) $(PACK_ARGS)

train-gpu:
	$(PYTHON) -m training.gpu_run --pack $(PACK) --out $(GPU_RUN) --minutes $(GPU_MINUTES) --handoff $(HANDOFF)

train-from-gpu: $(STAMP)
	$(PY) -m training.train --config training/configs/camvid_final.yaml --resume-from $(HANDOFF) --max-minutes $(MINUTES)

clean:
	rm -rf $(VENV) $(JAZZY_VENV) build install log *.egg-info
