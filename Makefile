# The two commands: `make demo` and `make test`. Everything else is a convenience.
JOBS        ?= $(shell nproc)
BUILD       ?= build/release
TEST_BUILD  ?= build/test
CMAKE_FLAGS ?=
ifeq ($(CI),true)
  CMAKE_FLAGS += -DSPATE_WERROR=ON
endif
SPATE := $(BUILD)/tools/spate/spate
DEMO_EVENTS ?= 300000

.PHONY: all bootstrap build demo test test-asan test-tsan ci bench clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target spate

# The main job on its embedded default: a generated clickstream through examples/trending.yaml.
demo: build
	@mkdir -p data
	$(SPATE) gen clicks --count $(DEMO_EVENTS) --seed 7 > data/clicks.jsonl
	$(SPATE) run examples/trending.yaml

test: bootstrap
	cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPATE_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)
	cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# Sanitizer builds of the suite: ASan+UBSan on everything, TSan on the runtime and e2e tests
# (the e2e tests run the sanitized spate binary, so the engine's threads run under TSan).
# Warnings as errors are enforced by the plain build of `make test`.
test-asan: bootstrap
	cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSPATE_BENCH=OFF -DSPATE_SANITIZE=address,undefined >/dev/null
	cmake --build build/asan -j $(JOBS)
	cd build/asan && ctest --output-on-failure -j $(JOBS) -LE slow

test-tsan: bootstrap
	cmake -S . -B build/tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPATE_BENCH=OFF -DSPATE_SANITIZE=thread >/dev/null
	cmake --build build/tsan -j $(JOBS)
	cd build/tsan && ctest --output-on-failure -j $(JOBS) -L runtime

# What CI runs: the suite, then the sanitizer builds.
ci: test test-asan test-tsan

bench: bootstrap
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

clean:
	rm -rf build
