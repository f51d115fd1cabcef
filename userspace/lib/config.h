/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pool definitions: what `snapctl pool activate` needs after a reboot.  One
 * file per pool in the configuration directory (SNAPCTL_CONFIG_DIR, default
 * /etc/dm-row/pools), "key=value" lines, mode 0644, replaced atomically
 * (write_file_atomic()), so a crash leaves the old or the new one and two
 * saves at once leave one of them whole.
 */
#ifndef SNAPCTL_CONFIG_H
#define SNAPCTL_CONFIG_H

#include <stdint.h>

#define POOL_NAME_MAX 64
#define POOL_PATH_MAX 256

struct pool_config_file {
	char name[POOL_NAME_MAX];
	char metadata[POOL_PATH_MAX];
	char data[POOL_PATH_MAX];
	uint32_t block_sectors;
	uint64_t low_water;
	char uuid[40];
};

const char *config_dir(void);
int config_load(const char *name, struct pool_config_file *cfg);
int config_save(const struct pool_config_file *cfg);
int config_remove(const char *name);
/* Call fn for every pool defined, in name order. */
int config_for_each(int (*fn)(void *context, const struct pool_config_file *cfg),
		    void *context);
/* Pool names: letters, digits, '_', '.', '-'; at most 63 bytes. */
int config_name_valid(const char *name);

#endif
