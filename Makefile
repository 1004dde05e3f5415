# Thin wrapper over CMake. Builds go to build/ (Release), build-debug/ (SHARDALLOC_DEBUG=3) and
# build-tsan/ (ThreadSanitizer, `make test-tsan` only).
BUILD       ?= build
DEBUG_BUILD ?= build-debug
TSAN_BUILD  ?= build-tsan
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX      ?= /usr/local
CMAKE_FLAGS ?=

REAL_JOBS   ?= 1

.PHONY: all test test-release test-debug test-tsan test-real bench install clean format

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

# The real-program tests only (label real, test/real/; docs/real-programs.md): Release build, then
# each installed program plainly and preloaded, outputs compared; prints the report of times and
# peak RSS (build/real-report.md). One test at a time (REAL_JOBS) so the timings do not compete.
test-real: all
	rm -rf $(BUILD)/real-report.d $(BUILD)/real-report.md
	cd $(BUILD) && status=0; \
	  ctest --output-on-failure --no-label-summary -L real -j $(REAL_JOBS) || status=$$?; \
	  echo; cat real-report.md 2>/dev/null; exit $$status

# The multi-threaded tests (label tsan) under ThreadSanitizer: clang, SHARDALLOC_DEBUG=2, the
# library without the malloc override (TSan owns malloc). Not part of `make test`; .ci/run runs it.
test-tsan:
	@command -v clang >/dev/null 2>&1 || { \
	  echo "test-tsan: clang is required for the ThreadSanitizer build (apt-get install clang)" >&2; \
	  exit 1; }
	@[ -f "$$(clang -print-file-name=libclang_rt.tsan-$$(uname -m).a)" ] || { \
	  echo "test-tsan: clang's ThreadSanitizer runtime is missing" \
	       "(apt-get install libclang-rt-$$(clang -dumpversion | cut -d. -f1)-dev)" >&2; \
	  exit 1; }
	CC=clang CXX=clang++ cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSHARDALLOC_TSAN=ON -DSHARDALLOC_DEBUG=2 $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && ctest --output-on-failure --no-label-summary -L tsan -j2

# Benchmarks (docs/benchmarks.md). The runners are standard-library Python: /usr/bin/python3, not
# whatever python3 comes first on PATH. BENCH_ARGS goes to bench/run.py (or bench/real/run.py),
# e.g. make bench BENCH_ARGS=--quick, or BENCH_ARGS="--threads 1,2,4,8,16 --workloads larson".
.PHONY: bench bench-peers bench-instr bench-real
PYTHON3     ?= /usr/bin/python3
BENCH_ARGS  ?=
BENCH_PEERS ?= libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libtbbmalloc2 gnuplot-nox valgrind
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)

# The main job: every workload of bench/ under shardalloc and each allocator installed, the very
# same binary with LD_PRELOAD, interleaved, medians; table, CSV and charts in bench/results/.
bench: all
	$(PYTHON3) bench/run.py $(BENCH_ARGS)

# The peer allocators (Debian packages), gnuplot for the charts, valgrind for bench-instr.
bench-peers:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_PEERS) || \
	  { $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_PEERS); }

# Instructions per malloc/free pair of small-loop under callgrind, for shardalloc and each peer.
bench-instr: all
	$(PYTHON3) bench/instr.py

# Real programs (python3, sqlite3, git, g++, redis, ...) under each allocator; then redis-server
# loaded and flushed under each (RSS given back).
bench-real: all
	$(PYTHON3) bench/real/run.py $(BENCH_ARGS)
	$(PYTHON3) bench/real/redis_flush.py --out bench/results/$$(date +%F)-$$(hostname -s)-redis-flush.md

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD) $(TSAN_BUILD)

format:
	clang-format -i include/*.h src/*.c src/*/*.h src/*/*.c test/*.h test/*/*.c test/*/*.cpp \
	  bench/*.c bench/*.h bench/workloads/*.c bench/workloads/*.h bench/workloads/*.cpp \
	  bench/real/*.c test/real/*.c
