// SPDX-License-Identifier: GPL-2.0
/*
 * Human-readable tables; see table.h.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

void table_init(struct table *t, unsigned int nr_columns, const char *const *headers)
{
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->nr_columns = nr_columns > TABLE_MAX_COLUMNS ? TABLE_MAX_COLUMNS : nr_columns;
	for (i = 0; i < t->nr_columns; i++) {
		size_t len = strlen(headers[i]);

		t->headers[i] = headers[i];
		t->right[i] = len && headers[i][len - 1] == '>';
	}
}

int table_add_row(struct table *t, const char *fmt, ...)
{
	char *line, *cursor, *cell;
	unsigned int i;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -1;
	if (t->nr_rows == t->capacity) {
		unsigned int cap = t->capacity ? t->capacity * 2 : 16;
		char **cells = realloc(t->cells, (size_t)cap * t->nr_columns * sizeof(*cells));

		if (!cells) {
			free(line);
			return -1;
		}
		t->cells = cells;
		t->capacity = cap;
	}
	cursor = line;
	for (i = 0; i < t->nr_columns; i++) {
		cell = cursor ? strsep(&cursor, "\t") : NULL;
		t->cells[t->nr_rows * t->nr_columns + i] = strdup(cell ? cell : "");
	}
	free(line);
	t->nr_rows++;
	return 0;
}

static size_t header_len(const struct table *t, unsigned int i)
{
	return strlen(t->headers[i]) - (t->right[i] ? 1 : 0);
}

void table_print(struct table *t, FILE *out)
{
	size_t width[TABLE_MAX_COLUMNS];
	unsigned int r, i;

	for (i = 0; i < t->nr_columns; i++) {
		width[i] = header_len(t, i);
		for (r = 0; r < t->nr_rows; r++) {
			size_t len = strlen(t->cells[r * t->nr_columns + i]);

			if (len > width[i])
				width[i] = len;
		}
	}
	for (i = 0; i < t->nr_columns; i++) {
		/* Like the cells: a last left-aligned column is not padded. */
		bool last = i + 1 == t->nr_columns;
		int w = t->right[i] ? (int)width[i] : last ? 0 : -(int)width[i];

		fprintf(out, "%s%*.*s", i ? "  " : "", w, (int)header_len(t, i), t->headers[i]);
	}
	fputc('\n', out);
	for (r = 0; r < t->nr_rows; r++) {
		for (i = 0; i < t->nr_columns; i++) {
			const char *cell = t->cells[r * t->nr_columns + i];
			bool last = i + 1 == t->nr_columns;

			if (last && !t->right[i])
				fprintf(out, "%s%s", i ? "  " : "", cell);
			else
				fprintf(out, "%s%*s", i ? "  " : "",
					t->right[i] ? (int)width[i] : -(int)width[i], cell);
		}
		fputc('\n', out);
	}
}

void table_free(struct table *t)
{
	unsigned int i;

	for (i = 0; i < t->nr_rows * t->nr_columns; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

const char *human_bytes(unsigned long long bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double value = bytes;
	unsigned int u = 0;

	while (value >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		value /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", bytes);
	else
		snprintf(buf, len, "%.1f %s", value, units[u]);
	return buf;
}
