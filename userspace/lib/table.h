/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Human-readable tables: columns sized to their widest cell, a header row,
 * numbers right-aligned.
 */
#ifndef SNAPCTL_TABLE_H
#define SNAPCTL_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#define TABLE_MAX_COLUMNS 16

struct table {
	unsigned int nr_columns;
	const char *headers[TABLE_MAX_COLUMNS];
	bool right[TABLE_MAX_COLUMNS];	/* right-align (numbers) */
	unsigned int nr_rows;
	unsigned int capacity;
	char **cells;			/* nr_rows * nr_columns, owned */
};

/* Headers ending in '>' are right-aligned (the '>' is not printed). */
void table_init(struct table *t, unsigned int nr_columns, const char *const *headers);
/* Add a row; the format gives one cell per column separated by '\t'. */
int table_add_row(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void table_print(struct table *t, FILE *out);
void table_free(struct table *t);

/* "12.3 GiB" style sizes from bytes. */
const char *human_bytes(unsigned long long bytes, char *buf, size_t len);

#endif
