/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small streaming JSON writer for snapctl's --json output.
 *
 *   struct json j; json_init(&j, stdout);
 *   json_begin_object(&j, NULL);
 *   json_string(&j, "name", "vm1"); json_u64(&j, "size", 1024);
 *   json_end_object(&j);  json_finish(&j);
 *
 * Keys are given inside objects and NULL inside arrays.
 */
#ifndef SNAPCTL_JSON_H
#define SNAPCTL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
	FILE *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
};

void json_init(struct json *j, FILE *out);
void json_begin_object(struct json *j, const char *key);
void json_end_object(struct json *j);
void json_begin_array(struct json *j, const char *key);
void json_end_array(struct json *j);
/* A NULL value is written as null. */
void json_string(struct json *j, const char *key, const char *value);
void json_u64(struct json *j, const char *key, uint64_t value);
void json_i64(struct json *j, const char *key, int64_t value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);
/* Ends the document with a newline. */
void json_finish(struct json *j);

#endif
