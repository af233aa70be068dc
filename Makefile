# The two commands of the Quick start: `make demo` and `make test`. Both set everything up first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := libimage-exiftool-perl libarchive-zip-perl ffmpeg tesseract-ocr tesseract-ocr-chi-sim chromium chromium-driver espeak-ng sox

.PHONY: setup system demo test lint typecheck pytest bench clean

setup: system $(STAMP)

# Debian tools used by the interop tests (exiftool, ffprobe, tesseract). Installed when running as root.
system:
	@bash scripts/system-deps.sh $(APT_PACKAGES)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/synthguard demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
