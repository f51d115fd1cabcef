/* HAVE_BLK_OPEN_MODE: dm_get_device() takes a blk_mode_t (BLK_OPEN_*), 6.5+ */
#include <linux/device-mapper.h>

int probe(struct dm_target *ti, struct dm_dev **dev);
int probe(struct dm_target *ti, struct dm_dev **dev)
{
	blk_mode_t mode = BLK_OPEN_READ | BLK_OPEN_WRITE;

	return dm_get_device(ti, "x", mode, dev);
}
