# SPDX-License-Identifier: GPL-2.0
#
# dm-row top-level Makefile.
#
#   make                 module (for KVER) and userspace
#   make module          dm-row.ko for KVER (default: the installed Debian 6.1 kernel)
#   make userspace       snapctl, its nbdkit plugin, the unit and S3 test binaries and
#                        the crash-test replayer
#   make check           set-up, build and unit tests, S3 tests, fuzzers (30 s each),
#                        then the VM test suite
#   make check-build     the README's Building commands in a fresh copy of the tree
#   make check-unit      cmocka unit tests only
#   make check-s3        the S3 object store against a local S3-protocol server
#   make check-vm        VM tests only (TESTS=group|group/test, default all;
#                        DMROW_TEST_SCALE=full in the environment runs the long
#                        tests at full strength, Documentation/testing.rst)
#   make check-debug     the VM suite on a 6.1 debug kernel (KASAN, lockdep, kmemleak)
#                        built from Debian's linux-source-6.1, in parts; long, not
#                        in CI; DEBUG_PART=K/N runs one part (scripts/check-debug)
#   make demo            set-up, build, and the main demo in the VM
#   make bench           the benchmark harness in the VM
#   make bench-core      userspace micro-benchmark of the metadata core
#   make fuzz            libFuzzer harnesses (clang); make check-fuzz runs them
#   make lint            sparse on the module, cppcheck on the userspace
#   make setup           install every build and test dependency (Debian packages)
#   make install         snapctl, its man page, its systemd unit, the nbdkit plugin
#                        (into nbdkit's plugin directory) and the module into DESTDIR
#   make clean

KVER ?= $(shell scripts/kver 2>/dev/null)
export KVER

BUILD := build
UBUILD := $(BUILD)/user

CC ?= gcc
CFLAGS ?= -O2 -g
WARNFLAGS := -Wall -Wextra -Werror -Wno-unused-parameter
USER_CFLAGS := -std=gnu11 $(WARNFLAGS) -D_GNU_SOURCE -MMD -MP $(CFLAGS)
USER_LDLIBS :=

# The metadata core is compiled from core/ with the compat shim first in
# the include path; everything else in userspace sees the system headers.
CORE_CPPFLAGS := -Iuserspace/compat/include -Iinclude -Iinclude/uapi -Icore
APP_CPPFLAGS := -Iinclude -Iinclude/uapi -Iuserspace/lib -Iuserspace/export -Iuserspace/compat/public

# The included makefiles define rules of their own: without this the first of
# them, not 'all', would be what a plain 'make' builds.
.DEFAULT_GOAL := all

include userspace/Makefile.inc
include tests/unit/Makefile.inc
include tests/crash/Makefile.inc
include tests/s3/Makefile.inc
include tests/fuzz/Makefile.inc
include bench/core/Makefile.inc

.PHONY: all module userspace check check-build check-unit check-vm check-debug demo bench lint \
	setup install clean

all: module userspace

module:
	@test -n "$(KVER)" || { echo "No installed kernel headers found: run 'make setup'" >&2; exit 1; }
	scripts/build-module $(KVER)
	cp $(BUILD)/$(KVER)/dm-row.ko dm-row.ko

userspace: $(USERSPACE_BINS) $(UNIT_TEST_BINS) $(CRASH_BINS) $(S3_TEST_BIN)

setup:
	scripts/setup

# Each step says when it starts (the CI budget is read from these lines).
check: setup
	@echo "check: check-build at $$(date +%T)"
	$(MAKE) check-build
	@echo "check: check-unit at $$(date +%T)"
	$(MAKE) check-unit
	@echo "check: check-s3 at $$(date +%T)"
	$(MAKE) check-s3
	@echo "check: check-fuzz at $$(date +%T)"
	$(MAKE) -j2 check-fuzz FUZZ_TIME=$(CHECK_FUZZ_TIME)
	@echo "check: check-vm at $$(date +%T)"
	$(MAKE) check-vm
	@echo "check: done at $$(date +%T)"

# make check runs each fuzzer this long; longer campaigns: make check-fuzz.
CHECK_FUZZ_TIME ?= 20

# Outside the VM: what the README says 'make', 'make module' and 'make lint'
# build is there afterwards, in a fresh copy of the tracked tree.
check-build:
	tests/build/readme-build

# Some unit tests run the built snapctl as an operator would.
check-unit: $(UNIT_TEST_BINS) $(USERSPACE_BINS)
	scripts/run-unit-tests $(UNIT_TEST_BINS)

TESTS ?= all
# Guests at once: each runs part of the suite (see scripts/vm --help).
VM_JOBS ?= 2
# The reboot tests run beside the suite, in a guest of their own (the
# suite's guests leave a CPU idle now and then); their output follows it.
check-vm: module userspace
	@tests/reboot/run --kver $(KVER) >$(BUILD)/reboot.log 2>&1 & reboot=$$!; \
	scripts/vm run --jobs $(VM_JOBS) --kver $(KVER) $(TESTS); suite=$$?; \
	wait $$reboot; rebooted=$$?; cat $(BUILD)/reboot.log; \
	test $$suite = 0 && test $$rebooted = 0

# The debug kernel (scripts/debug-kernel), built first if need be, and the
# module for it; then the suite and the reboot tests in parts
# (scripts/check-debug): all of them, or DEBUG_PART=K/N alone.
check-debug: userspace
	scripts/debug-kernel >$(BUILD)/debug-kernel.release
	$(MAKE) module KVER=$$(cat $(BUILD)/debug-kernel.release)
	scripts/check-debug $(DEBUG_PART)

demo: setup
	$(MAKE) module userspace
	scripts/demo

bench: module userspace
	scripts/bench

lint: userspace
	scripts/build-module $(KVER) lint
	scripts/lint-userspace

# Where nbdkit looks for plugins: 'nbdkit dmrow' (and snapctl export serve,
# when no plugin is beside snapctl) finds the installed plugin there.
NBDKIT_PLUGINDIR ?= $(or $(shell nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p'),\
	/usr/lib/$(shell $(CC) -print-multiarch)/nbdkit/plugins)

install: userspace
	install -D -m 0755 $(BUILD)/snapctl $(DESTDIR)/usr/sbin/snapctl
	install -D -m 0644 Documentation/snapctl.8 $(DESTDIR)/usr/share/man/man8/snapctl.8
	install -D -m 0644 $(NBDKIT_PLUGIN) $(DESTDIR)$(NBDKIT_PLUGINDIR)/nbdkit-dmrow-plugin.so
	install -D -m 0644 userspace/systemd/snapctl-daemon.service \
		$(DESTDIR)/lib/systemd/system/snapctl-daemon.service
	if [ -f dm-row.ko ]; then \
		install -D -m 0644 dm-row.ko $(DESTDIR)/lib/modules/$(KVER)/extra/dm-row.ko; \
	fi

clean:
	rm -rf $(BUILD) dm-row.ko

.SECONDARY:

-include $(shell find $(UBUILD) -name '*.d' 2>/dev/null)
