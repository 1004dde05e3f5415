# Thin wrapper over CMake. Builds go to build/ (Release) and build-debug/ (SHARDALLOC_DEBUG=3).
BUILD       ?= build
DEBUG_BUILD ?= build-debug
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX      ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all test test-release test-debug bench install clean format

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite twice: Release, then with every invariant check on (SHARDALLOC_DEBUG=3).
test: test-release test-debug

test-release: all
	cd $(BUILD) && ctest --output-on-failure --no-label-summary -j $(JOBS)

test-debug:
	cmake -S . -B $(DEBUG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDALLOC_DEBUG=3 $(CMAKE_FLAGS)
	cmake --build $(DEBUG_BUILD) -j $(JOBS)
	cd $(DEBUG_BUILD) && ctest --output-on-failure --no-label-summary -j $(JOBS)

bench: all
	$(BUILD)/bench/bench-small --compare

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD)

format:
	clang-format -i include/*.h src/*.c src/*/*.h src/*/*.c test/*/*.c bench/*.c
