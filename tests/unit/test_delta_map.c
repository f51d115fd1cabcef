// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of the block -> reference-count delta map
 * (core/dm-row-delta-map.c), the metadata space map's pending changes.
 *
 * Besides what add/get return, the tests hold the map to the promises the
 * space map relies on: changing an existing entry never reallocates the
 * slots (generation stays), the load stays under 3/4, and every used
 * slot holds a distinct block.  Fixed seeds, printed on failure;
 * DMROW_TEST_SEED=<n> replaces them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dm-row-delta-map.h"

#define TEST_NAME "delta map"
#include "test_helpers.h"

static struct dmrow_delta_map map;

static int setup(void **state)
{
	return dmrow_delta_map_init(&map);
}

static int teardown(void **state)
{
	dmrow_delta_map_exit(&map);
	return 0;
}

/* Structure: power-of-two size, load under 3/4, nr_used right, no duplicates. */
static void check_shape(void)
{
	u64 *blocks = malloc(map.nr_slots * sizeof(*blocks));
	unsigned int i, used = 0;

	check(blocks, "malloc");
	check(map.nr_slots >= 256 && !(map.nr_slots & (map.nr_slots - 1)),
	      "%u slots", map.nr_slots);
	for (i = 0; i < map.nr_slots; i++) {
		if (map.slots[i].block == DMROW_DELTA_EMPTY) {
			check(!map.slots[i].delta, "empty slot %u holds delta %d", i,
			      map.slots[i].delta);
			continue;
		}
		blocks[used++] = map.slots[i].block;
	}
	check(used == map.nr_used, "%u slots used, nr_used %u", used, map.nr_used);
	check((u64)used * 4 <= (u64)map.nr_slots * 3, "%u of %u slots used", used, map.nr_slots);
	qsort(blocks, used, sizeof(*blocks), cmp_u64);
	for (i = 1; i < used; i++)
		check(blocks[i] != blocks[i - 1], "block %llu in two slots",
		      (unsigned long long)blocks[i]);
	free(blocks);
}

/* An empty map answers 0 for anything. */
static void test_empty(void **state)
{
	start("empty", 0xde17a001);
	check(map.nr_used == 0 && map.nr_slots == 256 && map.generation == 0, "fresh map");
	check(!dmrow_delta_map_get(&map, 0), "get 0");
	check(!dmrow_delta_map_get(&map, 12345), "get 12345");
	check(!dmrow_delta_map_get(&map, DMROW_DELTA_EMPTY - 1), "get max");
	check_shape();
}

/* Deltas accumulate, may go negative, and stay per block. */
static void test_add_get_negative(void **state)
{
	start("add", 0xde17a002);
	check_ok(dmrow_delta_map_add(&map, 7, 1));
	check_ok(dmrow_delta_map_add(&map, 7, 2));
	check(dmrow_delta_map_get(&map, 7) == 3, "7: %d", dmrow_delta_map_get(&map, 7));
	check_ok(dmrow_delta_map_add(&map, 7, -5));
	check(dmrow_delta_map_get(&map, 7) == -2, "7: %d", dmrow_delta_map_get(&map, 7));
	check_ok(dmrow_delta_map_add(&map, 0, -1));
	check_ok(dmrow_delta_map_add(&map, DMROW_DELTA_EMPTY - 1, 40));
	check_ok(dmrow_delta_map_add(&map, 1ULL << 40, -1000000));
	check(dmrow_delta_map_get(&map, 0) == -1, "block 0");
	check(dmrow_delta_map_get(&map, DMROW_DELTA_EMPTY - 1) == 40, "largest block");
	check(dmrow_delta_map_get(&map, 1ULL << 40) == -1000000, "large negative");
	check(dmrow_delta_map_get(&map, 7) == -2, "7 unchanged by others");
	check(!dmrow_delta_map_get(&map, 8) && !dmrow_delta_map_get(&map, 6), "neighbours");
	check(map.nr_used == 4, "nr_used %u", map.nr_used);
	check_shape();
}

/* An entry whose delta returns to zero reads 0 and keeps its slot. */
static void test_zero_entries_stay(void **state)
{
	start("zero", 0xde17a003);
	check_ok(dmrow_delta_map_add(&map, 99, 1));
	check_ok(dmrow_delta_map_add(&map, 99, -1));
	check(!dmrow_delta_map_get(&map, 99), "back to zero");
	check(map.nr_used == 1, "nr_used %u", map.nr_used);
	check_ok(dmrow_delta_map_add(&map, 99, 5));
	check(dmrow_delta_map_get(&map, 99) == 5 && map.nr_used == 1, "reused its slot");
	check_ok(dmrow_delta_map_add(&map, 99, 0));
	check(dmrow_delta_map_get(&map, 99) == 5, "adding 0");
	check_shape();
}

/*
 * The slots grow when a new entry would pass 3/4 load, and only then:
 * changing an existing entry never reallocates (the space map applies
 * deltas through pointers it got before).
 */
static void test_grow_threshold(void **state)
{
	unsigned int i, limit;
	u64 b;

	start("grow", 0xde17a004);
	limit = map.nr_slots * 3 / 4;
	for (i = 0; i < limit; i++)
		check_ok(dmrow_delta_map_add(&map, 1000 + i * 7, (s32)i + 1));
	check(map.nr_slots == 256 && map.generation == 0, "grew early: %u slots", map.nr_slots);
	for (i = 0; i < limit; i++)
		check_ok(dmrow_delta_map_add(&map, 1000 + i * 7, -1));
	check(map.nr_slots == 256 && map.generation == 0,
	      "changing existing entries grew the map");
	check_ok(dmrow_delta_map_add(&map, 5, 1));
	check(map.nr_slots == 512 && map.generation == 1, "%u slots, generation %u",
	      map.nr_slots, map.generation);
	for (i = 0; i < limit; i++) {
		b = 1000 + i * 7;
		check(dmrow_delta_map_get(&map, b) == (s32)i, "block %llu: %d after grow",
		      (unsigned long long)b, dmrow_delta_map_get(&map, b));
	}
	check(dmrow_delta_map_get(&map, 5) == 1, "the new entry");
	/* Entry 1000 holds 0 now but is still an entry. */
	check(map.nr_used == limit + 1, "nr_used %u", map.nr_used);
	check_shape();
}

/* The home slot of @block in an empty map of the current size. */
static unsigned int home_slot(u64 block)
{
	struct dmrow_delta_map scratch;
	unsigned int i, slot = ~0U;

	check_ok(dmrow_delta_map_init(&scratch));
	check_ok(dmrow_delta_map_add(&scratch, block, 1));
	for (i = 0; i < scratch.nr_slots; i++)
		if (scratch.slots[i].block == block)
			slot = i;
	dmrow_delta_map_exit(&scratch);
	return slot;
}

/*
 * Blocks that hash to the same slot, including the last one (probing wraps
 * to the start): all found, and an absent block of the same home slot
 * probes past them to 0.
 */
static void test_collisions(void **state)
{
	u64 same[12], last[6], absent_same = 0, absent_last = 0, b;
	unsigned int nr_same = 0, nr_last = 0, target, i;

	start("collisions", 0xde17a005);
	target = home_slot(1);
	for (b = 2; nr_same < 12 || nr_last < 6 || !absent_same || !absent_last; b++) {
		unsigned int h = home_slot(b);

		check(b < 2000000, "no collisions found");
		if (h == target) {
			if (nr_same < 12)
				same[nr_same++] = b;
			else if (!absent_same)
				absent_same = b;
		} else if (h == 255) {
			if (nr_last < 6)
				last[nr_last++] = b;
			else if (!absent_last)
				absent_last = b;
		}
	}
	check_ok(dmrow_delta_map_add(&map, 1, 100));
	for (i = 0; i < 12; i++)
		check_ok(dmrow_delta_map_add(&map, same[i], (s32)i - 6));
	for (i = 0; i < 6; i++)
		check_ok(dmrow_delta_map_add(&map, last[i], 50 + (s32)i));
	check(map.nr_slots == 256, "grew");
	check(dmrow_delta_map_get(&map, 1) == 100, "block 1");
	for (i = 0; i < 12; i++)
		check(dmrow_delta_map_get(&map, same[i]) == (s32)i - 6,
		      "colliding block %llu: %d", (unsigned long long)same[i],
		      dmrow_delta_map_get(&map, same[i]));
	for (i = 0; i < 6; i++)
		check(dmrow_delta_map_get(&map, last[i]) == 50 + (s32)i,
		      "block %llu in the last slot's chain: %d", (unsigned long long)last[i],
		      dmrow_delta_map_get(&map, last[i]));
	/* Some of the last slot's chain wrapped to the first slots. */
	check(map.slots[0].block != DMROW_DELTA_EMPTY, "no wrap-around");
	check(!dmrow_delta_map_get(&map, absent_same), "absent colliding block");
	check(!dmrow_delta_map_get(&map, absent_last), "absent block of the last slot");
	check_shape();
}

#define NR_KEYS 100000

/* Many keys through several grows, against a model; then clear and reuse. */
static void test_many_keys_and_clear(void **state)
{
	u64 *keys = malloc(NR_KEYS * sizeof(*keys));
	s64 *model = calloc(NR_KEYS, sizeof(*model));
	bool *touched = calloc(NR_KEYS, sizeof(*touched));
	unsigned int i, nr_touched = 0, slots, generation;

	start("many", 0xde17a006);
	check(keys && model && touched, "malloc");
	for (i = 0; i < NR_KEYS; i++) {
		/* Distinct: the low 20 bits are the index. */
		keys[i] = ((rnd() >> 24) << 20 | i) & ~(1ULL << 63);
		if (i % 3 == 0)
			keys[i] = i;	/* dense small blocks, as on a real device */
	}
	for (i = 0; i < 600000; i++) {
		unsigned int k = rnd() % (i < 300000 ? NR_KEYS / 4 : NR_KEYS);
		s32 d = (s32)(rnd() % 11) - 5;

		check_ok(dmrow_delta_map_add(&map, keys[k], d));
		model[k] += d;
		if (!touched[k]) {
			touched[k] = true;
			nr_touched++;
		}
	}
	for (i = 0; i < NR_KEYS; i++)
		check(dmrow_delta_map_get(&map, keys[i]) == model[i], "key %llu: %d, model %lld",
		      (unsigned long long)keys[i], dmrow_delta_map_get(&map, keys[i]),
		      (long long)model[i]);
	for (i = 0; i < 20000; i++) {
		u64 absent = (rnd() | (1ULL << 63)) & ~1ULL;	/* never a key above */

		check(!dmrow_delta_map_get(&map, absent), "absent %llu", (unsigned long long)absent);
	}
	check(map.nr_used == nr_touched, "nr_used %u, %u keys touched", map.nr_used, nr_touched);
	check(map.nr_slots == 256U << map.generation, "%u slots after %u grows", map.nr_slots,
	      map.generation);
	check_shape();

	phase = "clear";
	slots = map.nr_slots;
	generation = map.generation;
	dmrow_delta_map_clear(&map);
	check(map.nr_used == 0 && map.nr_slots == slots, "cleared: %u used, %u slots",
	      map.nr_used, map.nr_slots);
	for (i = 0; i < NR_KEYS; i++)
		check(!dmrow_delta_map_get(&map, keys[i]), "key %llu survived clear",
		      (unsigned long long)keys[i]);
	check_shape();
	for (i = 0; i < NR_KEYS; i += 2)
		check_ok(dmrow_delta_map_add(&map, keys[i], -(s32)(i % 7) - 1));
	for (i = 0; i < NR_KEYS; i++)
		check(dmrow_delta_map_get(&map, keys[i]) == (i % 2 ? 0 : -(s32)(i % 7) - 1),
		      "after clear, key %llu: %d", (unsigned long long)keys[i],
		      dmrow_delta_map_get(&map, keys[i]));
	check(map.generation == generation, "refilling a cleared map of this size grew it");
	check_shape();
	free(keys);
	free(model);
	free(touched);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_get_negative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_entries_stay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_grow_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys_and_clear, setup, teardown),
	};

	return cmocka_run_group_tests_name("delta_map", tests, NULL, NULL);
}
