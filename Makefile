# Thin wrapper over CMake. Builds go to build/ (Release), build-debug/ (SHARDALLOC_DEBUG=3),
# build-tsan/ (ThreadSanitizer, `make test-tsan` only) and build-fuzz/ (libFuzzer, `make fuzz`).
BUILD       ?= build
DEBUG_BUILD ?= build-debug
TSAN_BUILD  ?= build-tsan
FUZZ_BUILD  ?= build-fuzz
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX      ?= /usr/local
CMAKE_FLAGS ?=

REAL_JOBS   ?= 1

.PHONY: all test test-release test-debug test-rust test-tsan test-real bench install clean format

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite twice: Release, then with every invariant check on (SHARDALLOC_DEBUG=3); then
# the Rust crates.
test: test-release test-debug test-rust

test-release: all
	cd $(BUILD) && ctest --output-on-failure --no-label-summary -j $(JOBS)

test-debug:
	cmake -S . -B $(DEBUG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDALLOC_DEBUG=3 $(CMAKE_FLAGS)
	cmake --build $(DEBUG_BUILD) -j $(JOBS)
	cd $(DEBUG_BUILD) && ctest --output-on-failure --no-label-summary -j $(JOBS)

# The Rust crates (bindings/rust/: shardalloc-sys builds the C library itself, no CMake):
# bindings/rust/test-all.sh runs the workspace's tests, doctests and examples in debug and
# --release, the sys crate with the features that change the C compile (each test checks its
# feature reached it), the malloc override, the link beside a plain-named mi_* copy (and its
# failure with override), an unsupported target's one-line error, the #![no_std] program, the
# packages (check-package.sh) and a short round of the bench example. Needs cargo and rustc >=
# RUST_MIN; without them the step is skipped with a message (.ci/run installs Debian's cargo-web
# when cargo is missing). Target dir: RUST_TARGET.
CARGO       ?= cargo
RUST_MIN    ?= 1.71
RUST_TARGET ?= $(CURDIR)/bindings/rust/target
RUST_SYS_FEATURES ?= secure,debug_in_debug,local-dynamic-tls,no_thp,skip-collect-on-exit,asm,extended,arena

test-rust:
	@v=$$($(CARGO) --version 2>/dev/null | awk '{print $$2}'); \
	if [ -z "$$v" ]; then \
	  echo "test-rust: SKIPPED: cargo not found (Debian 12: apt-get install cargo-web)"; exit 0; fi; \
	if [ "$$(printf '%s\n%s\n' "$(RUST_MIN)" "$$v" | sort -V | head -n1)" != "$(RUST_MIN)" ]; then \
	  echo "test-rust: SKIPPED: cargo $$v is older than $(RUST_MIN) (Debian 12: cargo-web)"; \
	  exit 0; fi; \
	CARGO="$(CARGO)" CARGO_TARGET_DIR="$(RUST_TARGET)" RUST_SYS_FEATURES="$(RUST_SYS_FEATURES)" \
	  bash bindings/rust/test-all.sh

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

# Fuzzing (test/fuzz/README.md): two libFuzzer targets (clang -fsanitize=fuzzer,address around the
# library's own sources, no malloc override; at SHARDALLOC_DEBUG=FUZZ_DEBUG for fuzz-ops and
# FUZZ_API_DEBUG, 0: as shipped, for fuzz-api) built in build-fuzz/:
# fuzz-ops (two threads, remote frees; corpus test/fuzz/corpus/) and fuzz-api (one thread, the
# whole API, thousands of inputs a second; corpus test/fuzz/corpus-api/). `make fuzz-ops` and
# `make fuzz-api` run one for FUZZ_SECONDS, `make fuzz` both, one after the other (both run even
# when the first fails). New inputs go to a temporary directory (FUZZ_MERGE=1 merges them into the
# corpus), a failing input to build-fuzz/.../artifacts/. Each run ends with one line: executions,
# exec/s (wall and per CPU second), coverage. FUZZ_ARGS: more libFuzzer flags; FUZZ_STRICT=0:
# step around the two (fixed) findings of test/fuzz/README.md (fuzz-ops).
FUZZ_SECONDS ?= 300
FUZZ_DEBUG   ?= 2
FUZZ_API_DEBUG ?= 0
FUZZ_MERGE   ?= 0
FUZZ_STRICT  ?= 1
FUZZ_ARGS    ?=
FUZZ_RUN      = FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_MERGE=$(FUZZ_MERGE) bash test/fuzz/run.sh
.PHONY: fuzz fuzz-ops fuzz-api fuzz-configure
fuzz-configure:
	@command -v clang >/dev/null 2>&1 || { \
	  echo "fuzz: clang is required for the libFuzzer build (apt-get install clang)" >&2; exit 1; }
	@[ -f "$$(clang -print-file-name=libclang_rt.fuzzer-$$(uname -m).a)" ] || { \
	  echo "fuzz: clang's libFuzzer runtime is missing" \
	       "(apt-get install libclang-rt-$$(clang -dumpversion | cut -d. -f1)-dev)" >&2; \
	  exit 1; }
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSHARDALLOC_FUZZ=ON \
	  -DSHARDALLOC_DEBUG=$(FUZZ_DEBUG) -DSHARDALLOC_FUZZ_API_DEBUG=$(FUZZ_API_DEBUG) \
	  -DSHARDALLOC_FUZZ_STRICT=$(FUZZ_STRICT) $(CMAKE_FLAGS)

fuzz-ops fuzz-api: fuzz-configure
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $@
	$(FUZZ_RUN) $(FUZZ_BUILD)/test/fuzz/$@ $(FUZZ_ARGS)

fuzz: fuzz-configure
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz-ops fuzz-api
	@status=0; \
	$(FUZZ_RUN) $(FUZZ_BUILD)/test/fuzz/fuzz-ops $(FUZZ_ARGS) || status=$$?; \
	$(FUZZ_RUN) $(FUZZ_BUILD)/test/fuzz/fuzz-api $(FUZZ_ARGS) || status=$$?; \
	exit $$status

# Memory checkers see shardalloc's blocks: a build with SHARDALLOC_VALGRIND=ON (memcheck reports a
# leak and a use after free at the program's lines; only the library and test/track are built,
# ctest -L track); the ASan build's own track test runs in test-asan below.
VALGRIND_BUILD ?= build-valgrind
ASAN_BUILD     ?= build-asan
UBSAN_BUILD    ?= build-ubsan
.PHONY: test-tools test-sanitize test-asan test-ubsan
test-tools:
	@command -v valgrind >/dev/null 2>&1 || { \
	  echo "test-tools: valgrind is required (apt-get install valgrind)" >&2; exit 1; }
	cmake -S . -B $(VALGRIND_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDALLOC_VALGRIND=ON $(CMAKE_FLAGS)
	cmake --build $(VALGRIND_BUILD) -j $(JOBS) --target shardalloc test-track
	cd $(VALGRIND_BUILD) && ctest --output-on-failure --no-label-summary -L track

# The test suite under the sanitizers (not the real programs: label real). UBSan: the library as
# shipped (malloc override, secure library) and every test, any report fatal. ASan (with UBSan):
# the library without the override (ASan's runtime is malloc) and with free memory poisoned; the
# tests that need shardalloc to be malloc, or that measure RSS or faults, do not apply there and
# are not registered (test/CMakeLists.txt lists them); the track test checks ASan sees our blocks.
test-sanitize: test-ubsan test-asan

test-ubsan:
	cmake -S . -B $(UBSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDALLOC_UBSAN=ON $(CMAKE_FLAGS)
	cmake --build $(UBSAN_BUILD) -j $(JOBS)
	cd $(UBSAN_BUILD) && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --no-label-summary -j $(JOBS) -LE real

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHARDALLOC_ASAN=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --no-label-summary -j $(JOBS) -LE real

# Benchmarks (docs/benchmarks.md). The runners are standard-library Python: /usr/bin/python3, not
# whatever python3 comes first on PATH. BENCH_ARGS goes to bench/run.py (or bench/real/run.py),
# e.g. make bench BENCH_ARGS=--quick, or BENCH_ARGS="--threads 1,2,4,8,16 --workloads larson".
.PHONY: bench bench-peers bench-instr bench-real bench-secure
PYTHON3     ?= /usr/bin/python3
BENCH_ARGS  ?=
BENCH_PEERS ?= libmimalloc2.0 libjemalloc2 libtcmalloc-minimal4 libtbbmalloc2 gnuplot-nox valgrind
SUDO        := $(if $(filter 0,$(shell id -u)),,sudo)

# The main job: every workload of bench/ under shardalloc and each allocator installed, the very
# same binary with LD_PRELOAD, interleaved, medians; table, CSV and charts in bench/results/.
# First bench/peers.sh installs the peers (and gnuplot) that are missing when it can (root, or
# passwordless sudo, and apt-get), saying so; else it prints the command and stops.
# BENCH_ALLOW_MISSING=1: no check, compare with the allocators found.
BENCH_ALLOW_MISSING ?= 0
bench: all
	@[ "$(BENCH_ALLOW_MISSING)" = 1 ] || sh bench/peers.sh $(PYTHON3) $(BENCH_ARGS)
	$(PYTHON3) bench/run.py $(BENCH_ARGS)

# The peer allocators (Debian packages), gnuplot for the charts, valgrind for bench-instr.
bench-peers:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_PEERS) || \
	  { $(SUDO) apt-get update && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $(BENCH_PEERS); }

# The secure build's cost level by level (DESIGN.md "Secure mode"): libshardalloc-secure.so built at
# each of SECURE_LEVELS into build-secure-N/, every workload under the plain library and each level
# in one interleaved run (bench/results/<date>-<host>-secure-levels.*).
SECURE_LEVELS ?= 1 2 3 4 5
bench-secure: all
	@for l in $(SECURE_LEVELS); do \
	  cmake -S . -B build-secure-$$l -DCMAKE_BUILD_TYPE=Release -DSHARDALLOC_SECURE_LIB_LEVEL=$$l \
	    $(CMAKE_FLAGS) > /dev/null && \
	  cmake --build build-secure-$$l -j $(JOBS) --target shardalloc-secure > /dev/null || exit 1; \
	done
	$(PYTHON3) bench/run.py --allocators shardalloc \
	  $(foreach l,$(SECURE_LEVELS),--extra secure-$(l)=build-secure-$(l)/libshardalloc-secure.so) \
	  --name $$(date +%F)-$$(hostname -s)-secure-levels $(BENCH_ARGS)

# Instructions per malloc/free pair of small-loop under callgrind, for shardalloc and each peer.
bench-instr: all
	$(PYTHON3) bench/instr.py

# mimalloc-bench's programs (docs/benchmarks.md) under shardalloc and every peer, interleaved:
# MB_SRC=DIR names a mimalloc-bench checkout already built with its own scripts (nothing of it is
# built here); MB_ARGS goes to bench/mb.py (--runs 5, --programs larsonN,alloc-test1, --list).
# MB_EXTRA (bench-mb) and BENCH_EXTRA (bench, bench/run.py) add allocators, space-separated
# NAME=/path/lib.so: peers built from source, or an older shardalloc (bench-base-lib below).
MB_SRC      ?=
MB_ARGS     ?=
MB_EXTRA    ?=
BENCH_EXTRA ?=
export MB_SRC MB_EXTRA BENCH_EXTRA
.PHONY: bench-mb bench-base-lib
bench-mb: all
	$(PYTHON3) bench/mb.py $(MB_ARGS)

# "Before" and "after" in one interleaved run: the library of an older commit, BASE_COMMIT=<rev>,
# built from that commit's sources (git archive) into $(BASE_BUILD)/, to be measured as an extra
# allocator, e.g. make bench BENCH_EXTRA=shardalloc-base=$(BASE_BUILD)/build/libshardalloc.so
BASE_COMMIT ?=
BASE_BUILD  ?= build-base
bench-base-lib:
	@[ -n "$(BASE_COMMIT)" ] || { echo "bench-base-lib: give BASE_COMMIT=<commit>" >&2; exit 1; }
	@git rev-parse --verify -q "$(BASE_COMMIT)^{commit}" > /dev/null || \
	  { echo "bench-base-lib: $(BASE_COMMIT) is not a commit of this repository" >&2; exit 1; }
	rm -rf $(BASE_BUILD) && mkdir -p $(BASE_BUILD)/src
	git archive "$(BASE_COMMIT)" | tar -x -C $(BASE_BUILD)/src
	cmake -S $(BASE_BUILD)/src -B $(BASE_BUILD)/build -DCMAKE_BUILD_TYPE=Release \
	  -DSHARDALLOC_TESTS=OFF $(CMAKE_FLAGS) > /dev/null
	cmake --build $(BASE_BUILD)/build -j $(JOBS) --target shardalloc
	@echo "bench-base-lib: $(BASE_BUILD)/build/libshardalloc.so is commit" \
	  "$$(git rev-parse --short "$(BASE_COMMIT)^{commit}"); measure it with" \
	  "BENCH_EXTRA=shardalloc-base=$(BASE_BUILD)/build/libshardalloc.so (or MB_EXTRA=...)"

# Real programs (python3, sqlite3, git, g++, redis, ...) under each allocator; then redis-server
# loaded and flushed under each (RSS given back).
bench-real: all
	$(PYTHON3) bench/real/run.py $(BENCH_ARGS)
	$(PYTHON3) bench/real/redis_flush.py --out bench/results/$$(date +%F)-$$(hostname -s)-redis-flush.md

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

# Debian packages (pkg/deb.sh): libshardalloc0, libshardalloc-dev and shardalloc (the launcher)
# built with dpkg-deb into $(DEB_BUILD)/debs/, checked by lintian when it is installed.
# test-install: the Release build installed into a temporary prefix and used through pkg-config,
# find_package and add_subdirectory; then the .debs installed, used and removed (as root).
DEB_BUILD ?= build-deb
.PHONY: deb test-install
deb:
	JOBS=$(JOBS) bash pkg/deb.sh $(DEB_BUILD)

test-install: all
	JOBS=$(JOBS) bash pkg/test/test-install.sh $(BUILD) $(DEB_BUILD)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) bindings/rust/target $(VALGRIND_BUILD) \
	  $(ASAN_BUILD) $(UBSAN_BUILD) $(addprefix build-secure-,$(SECURE_LEVELS)) $(DEB_BUILD)

format:
	clang-format -i include/*.h src/*.c src/*/*.h src/*/*.c test/*.h test/*/*.c test/*/*.cpp \
	  bench/*.c bench/*.h bench/workloads/*.c bench/workloads/*.h bench/workloads/*.cpp \
	  bench/real/*.c test/real/*.c
