// SPDX-License-Identifier: GPL-2.0
/*
 * Pool definitions on disk; see config.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "statefile.h"

const char *config_dir(void)
{
	const char *dir = getenv("SNAPCTL_CONFIG_DIR");

	return dir && *dir ? dir : "/etc/dm-row/pools";
}

int config_name_valid(const char *name)
{
	size_t i;

	if (!name[0] || strlen(name) >= POOL_NAME_MAX || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; name[i]; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return 0;
	return 1;
}

static void path_of(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s.conf", config_dir(), name);
}

int config_load(const char *name, struct pool_config_file *cfg)
{
	char path[512], line[512];
	FILE *f;

	if (!config_name_valid(name))
		return -EINVAL;
	path_of(name, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->name, sizeof(cfg->name), "%s", name);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *value;

		line[strcspn(line, "\n")] = '\0';
		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		value = eq + 1;
		if (!strcmp(line, "metadata"))
			snprintf(cfg->metadata, sizeof(cfg->metadata), "%s", value);
		else if (!strcmp(line, "data"))
			snprintf(cfg->data, sizeof(cfg->data), "%s", value);
		else if (!strcmp(line, "block_sectors"))
			cfg->block_sectors = strtoul(value, NULL, 10);
		else if (!strcmp(line, "low_water"))
			cfg->low_water = strtoull(value, NULL, 10);
		else if (!strcmp(line, "uuid"))
			snprintf(cfg->uuid, sizeof(cfg->uuid), "%s", value);
	}
	fclose(f);
	if (!cfg->metadata[0] || !cfg->data[0] || !cfg->block_sectors)
		return -EILSEQ;
	return 0;
}

int config_save(const struct pool_config_file *cfg)
{
	char path[512], text[1024];
	int len;

	path_of(cfg->name, path, sizeof(path));
	len = snprintf(text, sizeof(text),
		       "# dm-row pool, written by snapctl\nmetadata=%s\ndata=%s\nblock_sectors=%u\n"
		       "low_water=%" PRIu64 "\nuuid=%s\n",
		       cfg->metadata, cfg->data, cfg->block_sectors, cfg->low_water, cfg->uuid);
	if (len < 0 || len >= (int)sizeof(text))
		return -ENAMETOOLONG;
	/*
	 * A temporary file of this process's own, so two saves at once do not
	 * write into each other's; the directory is created if needed and
	 * fsynced after the rename, before the pool is relied on.
	 */
	return write_file_atomic(path, text, len, 0644);
}

int config_remove(const char *name)
{
	char path[512];

	path_of(name, path, sizeof(path));
	return unlink(path) ? -errno : 0;
}

static int compare_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int config_for_each(int (*fn)(void *context, const struct pool_config_file *cfg),
		    void *context)
{
	struct dirent **entries;
	int n, i, r = 0;

	n = scandir(config_dir(), &entries, NULL, compare_names);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct pool_config_file cfg;
		char name[POOL_NAME_MAX];
		size_t len = strlen(entries[i]->d_name);

		if (!r && len > 5 && len - 5 < sizeof(name) &&
		    !strcmp(entries[i]->d_name + len - 5, ".conf")) {
			memcpy(name, entries[i]->d_name, len - 5);
			name[len - 5] = '\0';
			if (!config_load(name, &cfg))
				r = fn(context, &cfg);
		}
		free(entries[i]);
	}
	free(entries);
	return r;
}
