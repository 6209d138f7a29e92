# Seven Servers — build, test, bench.  `make help` lists the targets.
#
# Every directory with a main.c among SERVERS is a server; all its .c files link
# with common/ into $(BUILD)/bin/NAME. Unit tests are tests/unit/test_*.c.

SERVERS_ALL := iterative fork_per_conn prefork prefork_select threaded multiplex coroutine
SERVERS     := $(foreach s,$(SERVERS_ALL),$(if $(wildcard $(s)/main.c),$(s)))

CC      ?= cc
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
CFLAGS  := -std=c17 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -MMD -MP -Icommon
LDLIBS  := -lpthread
# Libraries one server links besides: NAME_LDLIBS.
coroutine_LDLIBS := -luring

# SAN=address,undefined or SAN=thread: a separate build tree, same tests.
ifneq ($(SAN),)
  BUILD   ?= build-san-$(subst $(comma),-,$(SAN))
  CFLAGS  += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
  LDFLAGS += -fsanitize=$(SAN)
else
  BUILD   ?= build
endif
comma := ,

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
BINS       := $(SERVERS:%=$(BUILD)/bin/%)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# Unit tests that test code living in a variant folder name it here.
test_coro_EXTRA := $(wildcard coroutine/coro.c coroutine/coro_switch.S)
test_sched_EXTRA := $(wildcard coroutine/sched.c coroutine/coro.c coroutine/coro_switch.S)
test_histogram_EXTRA := bench/histogram.c
# test_http_path takes openat2 away with the shim tests/doctor runs the servers under.
test_http_path_EXTRA := tests/doctor/no_openat2.c

.SECONDARY:
.PHONY: all test check format format-check unit unit-bins blackbox deps bench bench-compare \
        diffs clean help fuzz check-docs exercises grade doctor mutants \
        blackbox-proxy
all: $(BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Objects of a server folder, and of a list of source files.
server_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard $(1)/*.c)) \
              $(patsubst %.S,$(BUILD)/obj/%.o,$(wildcard $(1)/*.S))
source_objs = $(patsubst %,$(BUILD)/obj/%.o,$(basename $(1)))

.SECONDEXPANSION:
$(BUILD)/bin/%: $$(call server_objs,$$*) $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $($*_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $$(call source_objs,$$($$*_EXTRA)) $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(LDLIBS)

deps:
	@scripts/deps.sh test

# make test: the quick check after every edit (about a minute on 2 cores): build,
# the unit tests, and the black-box suite once per server (tests/quick.list: one
# representative configuration of each of the seven). One summary line.
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) all $(UNIT_BINS)
	@BUILD=$(BUILD) tests/run_all.sh --quick $(UNIT_BINS)

# make check: everything, before a commit and in CI (.ci/run). The unit tests,
# the black-box suite against every line of tests/servers.list, every other
# suite (tests/*/run.py), the docs' quick command blocks and the format check;
# without SAN also the ASan+UBSan tree (unit tests, and the black-box suite
# against tests/sanitizer.list) and the threaded server under TSan. Ends with "total: N passed, N failed in N s".
check: deps
	@scripts/deps.sh check
	@$(MAKE) --no-print-directory -j$(JOBS) all $(UNIT_BINS)
ifeq ($(SAN),)
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=address,undefined all unit-bins
	@$(MAKE) --no-print-directory -j$(JOBS) SAN=thread all
	@BUILD=$(BUILD) SANITIZER_PASSES=1 FORMAT_CHECK=1 tests/run_all.sh $(UNIT_BINS)
else
	@BUILD=$(BUILD) FORMAT_CHECK=1 tests/run_all.sh $(UNIT_BINS)
endif

# make format: clang-format -i every tracked .c and .h (style: .clang-format).
# make format-check: change nothing; name each file clang-format would change.
# Outside a git checkout, every .c and .h but the build trees'.
CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || \
                 find . -name build -prune -o -name 'build-san-*' -prune -o -name '*.[ch]' -print)
format:
	@scripts/deps.sh check
	@$(CLANG_FORMAT) -i $(FORMAT_FILES)

format-check:
	@scripts/deps.sh check
	@passed=0; failed=0; \
	for file in $(FORMAT_FILES); do \
	    if $(CLANG_FORMAT) --dry-run --Werror "$$file" >/dev/null 2>&1; then \
	        passed=$$((passed + 1)); \
	    else \
	        echo "format-check: $$file: clang-format would change it (make format)"; \
	        failed=$$((failed + 1)); \
	    fi; \
	done; \
	echo "format-check: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

unit-bins: $(UNIT_BINS)

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

blackbox: all
	python3 tests/blackbox/run.py --bin-dir $(BUILD)/bin

# The black-box suite through a proxy, every line of tests/servers.list in front
# of one multiplex upstream (make check runs it on tests/quick.list).
blackbox-proxy: all
	python3 tests/blackbox/run.py --bin-dir $(BUILD)/bin --proxy

# make fuzz: libFuzzer (clang) under ASan+UBSan, FUZZ_SECONDS per target,
# seeded with the parser's unit-test table and fuzz/seeds/.
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -std=c17 -g -O1 -D_GNU_SOURCE -Icommon -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all
fuzz: $(BUILD)/tests/test_http_parse
	@scripts/deps.sh fuzz
	@mkdir -p build/fuzz/seeds-parse
	@$(BUILD)/tests/test_http_parse --seeds build/fuzz/seeds-parse
	clang $(FUZZ_FLAGS) fuzz/fuzz_parse.c common/http_parse.c -o build/fuzz/fuzz_parse
	clang $(FUZZ_FLAGS) fuzz/fuzz_path.c common/http_path.c -o build/fuzz/fuzz_path
	@for t in parse path; do \
	    mkdir -p build/fuzz/corpus-$$t; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	    build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        build/fuzz/corpus-$$t fuzz/seeds/$$t $$(test $$t = parse && echo build/fuzz/seeds-parse) 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' ; \
	done

# make bench: install wrk and gnuplot if missing, build, run the default experiment
# set (about 8 minutes on 2 cores) into bench/results/<date>-<host>/, point
# bench/results/latest at it. FULL=1: longer sweeps, more repeats. ONLY=name: one
# experiment (fig30.1 herd distribution throughput slow-handler slow-upstream slow-clients memory
# coro-switch greedy-client syscalls stacks reference). A server that does not build is left out, not
# fatal. The report opens with the figures that moved since docs/labs/reference.
bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory -s -k all || echo "make bench: some servers did not build; benching what is in $(BUILD)/bin"
	@$(MAKE) --no-print-directory -s -C bench
	@python3 bench/bench.py --bin-dir $(BUILD)/bin $(if $(FULL),--full) $(if $(ONLY),--only $(ONLY))

# make bench-compare A B (or A=DIR B=DIR): the figures that moved from results folder A
# (before) to B (after), by bench/README.md's rule. Without them: the reference run
# against bench/results/latest. The folders given as goals are made no-op targets.
ifeq (bench-compare,$(firstword $(MAKECMDGOALS)))
COMPARE_DIRS := $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS))
$(eval $(COMPARE_DIRS):;@:)
endif
bench-compare:
	@python3 bench/compare.py $(or $(A),$(word 1,$(COMPARE_DIRS)),docs/labs/reference) \
	    $(or $(B),$(word 2,$(COMPARE_DIRS)),bench/results/latest)

# make doctor: what this machine has (each kernel feature tried, cores, the
# descriptor limit, packages) and which labs, exercises and bench experiments run
# here as written; exit status 1 only when make test cannot pass here.
doctor:
	@python3 scripts/doctor.py --build $(BUILD)

check-docs: all
	@scripts/deps.sh check
	python3 scripts/check_docs.py

diffs:
	@scripts/diffs.sh

# make exercises: the student tree (docs/labs/exercises.md) in build/student, or DEST
# (new, empty, or a tree it wrote before); ONLY=id,id cuts only those exercises.
# make grade: build (and threaded under TSan), then the exercises' checks and points.
exercises:
	@python3 scripts/exercises.py $(if $(DEST),--dest $(DEST)) $(if $(ONLY),--only $(ONLY))

grade: all
	@$(MAKE) --no-print-directory -s SAN=thread build-san-thread/bin/threaded
	@python3 scripts/grade.py --bin-dir $(BUILD)/bin $(if $(ONLY),--only $(ONLY))

# make mutants: the catalogue of wrong versions (tests/mutants/README.md): each
# patch applied to a scratch copy in build/mutants/, built, and the checks it
# names run; every one must be killed. ONLY=id,id: those entries. make check
# runs the entries marked Quick (tests/run_all.sh).
mutants:
	@scripts/deps.sh test
	@python3 scripts/mutants.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf build build-san-* bench/build

help:
	@echo "make                 build every server into $(BUILD)/bin/"
	@echo "make test            after every edit (~1 min): build, unit tests, black-box suite"
	@echo "                     once per server (tests/quick.list)"
	@echo "make check           before a commit, and in CI (~26 min): everything make test runs,"
	@echo "                     every configuration in tests/servers.list, every tests/*/run.py"
	@echo "                     suite, ASan+UBSan and TSan builds, the docs' quick blocks,"
	@echo "                     make format-check; last line: total: N passed, N failed"
	@echo "make SAN=address,undefined check   the same in one sanitizer tree (SAN=thread: TSan)"
	@echo "make format          clang-format -i every tracked .c and .h"
	@echo "make format-check    name each file clang-format would change (fails if any)"
	@echo "make unit            only the cmocka unit tests"
	@echo "make blackbox        only the black-box suite (tests/servers.list)"
	@echo "make blackbox-proxy  the black-box suite with every configuration as a proxy"
	@echo "                     in front of one multiplex upstream"
	@echo "make diffs           diff neighbouring variants (the lessons)"
	@echo "make exercises       the student tree: exercises cut from the servers (DEST=build/student)"
	@echo "make grade           the exercises' checks and a points table (ONLY=id)"
	@echo "make mutants         the wrong versions in tests/mutants/: each must fail a check (ONLY=id)"
	@echo "make fuzz            libFuzzer on the parser and path code (FUZZ_SECONDS=60 each)"
	@echo "make check-docs      run every command block the docs mark runnable"
	@echo "make doctor          what this machine has, and which labs and experiments run here"
	@echo "make bench           wrk + gnuplot experiments into bench/results/latest/ (FULL=1, ONLY=name)"
	@echo "make bench-compare A B  the figures that moved between two bench results folders"
	@echo "make clean           remove build output"

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
