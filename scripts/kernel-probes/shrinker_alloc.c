/* HAVE_SHRINKER_ALLOC: shrinkers are allocated, with private data, 6.7+ */
#include <linux/shrinker.h>

struct shrinker *probe(void);
struct shrinker *probe(void)
{
	struct shrinker *s = shrinker_alloc(0, "probe");

	if (s)
		s->private_data = NULL;
	return s;
}
