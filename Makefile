# facerig: two commands on a fresh machine, `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all bench venv clean gltf-validator

$(STAMP): pyproject.toml requirements-pinned.txt Makefile
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-pinned.txt
	$(VPY) -m pip install --quiet --no-build-isolation -e '.[test]'
	# the 64 px DCGAN face generator (rig development backend); its declared deps are not needed
	$(VPY) -m pip install --quiet --no-deps gan-face-generate==1.1.1
	# MediaPipe's face mesh (default landmark backend; Apache-2.0); runtime deps are in pyproject.toml
	$(VPY) -m pip install --quiet --no-deps mediapipe==0.10.21
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VPY) -m rig.demo --out out/demo $(if $(PHOTO),--photo "$(PHOTO)") $(if $(FULL),--generated --reenact)

test: $(STAMP)
	$(VPY) -m pytest -q

test-all: $(STAMP)
	$(VPY) -m pytest -q -m ''

bench: $(STAMP)
	$(VPY) -m bench.run_all

clean:
	rm -rf out

# the Khronos glTF validator (npm), used by the glTF export tests; they install it themselves too
gltf-validator:
	scripts/install_gltf_validator.sh
