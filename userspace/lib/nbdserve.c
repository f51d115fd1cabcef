// SPDX-License-Identifier: GPL-2.0
/*
 * Serving an export on an NBD device; see nbdserve.h.
 *
 * Starting is serialised by a lock file in the runtime directory, so two
 * starts never pick the same free device.  nbdkit runs in the foreground
 * (-f, so that its messages go to its log: forked into the background it
 * drops them) under a shell that waits for it, in a session of its own
 * that a child of ours made: nbdkit run this way asks for SIGTERM when its
 * parent exits, and its parent must not be us.  We see the shell exit if
 * the server refuses to start (its message is in its log); it is ready
 * once it has written its pid file, which it does when it listens.  Only
 * then is the kernel's NBD driver connected.  Every failure undoes what
 * was done before it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nbdserve.h"
#include "statefile.h"

#define PLUGIN_FILE "nbdkit-dmrow-plugin.so"
#define READY_MS 60000			/* for the server to open the repository */
#define CONNECT_MS 10000		/* for the device to show its size */
#define STOP_MS 10000			/* for the server to exit after SIGTERM */
#define POLL_MS 20

static void say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* "nbdN" of "/dev/nbdN" or "nbdN"; -EINVAL for anything else. */
static int device_name(const char *device, char *name, size_t len)
{
	const char *base = strncmp(device, "/dev/", 5) ? device : device + 5;
	size_t digits = strlen(base) > 3 ? strlen(base) - 3 : 0;

	if (strncmp(base, "nbd", 3) || !digits || digits > 6 ||
	    strspn(base + 3, "0123456789") != digits || strlen(base) >= len)
		return -EINVAL;
	strcpy(name, base);
	return 0;
}

static void serve_dir(char *buf, size_t len)
{
	snprintf(buf, len, "%s/nbd", run_dir());
}

static void serve_file(char *buf, size_t len, const char *name, const char *suffix)
{
	snprintf(buf, len, "%s/nbd/%s.%s", run_dir(), name, suffix);
}

static void remove_files(const char *name)
{
	static const char *const suffixes[] = { "serve", "sock", "pid", "log" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		serve_file(path, sizeof(path), name, suffixes[i]);
		unlink(path);
	}
}

/* The first line of /sys/block/<name>/<attr>, or "" if there is none. */
static void sys_read(const char *name, const char *attr, char *buf, size_t len)
{
	char path[128];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/block/%s/%s", name, attr);
	f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(buf, len, f))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

/* The kernel has a connection on the device (its pid attribute exists). */
static bool device_connected(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/block/%s/pid", name);
	return !access(path, F_OK);
}

static uint64_t device_sectors(const char *name)
{
	char buf[32];

	sys_read(name, "size", buf, sizeof(buf));
	return strtoull(buf, NULL, 10);
}

/* Is @pid a running (not a zombie) nbdkit? */
static bool server_alive(pid_t pid)
{
	char path[64], buf[512], *paren;
	FILE *f;
	bool alive = false;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f)) {
		paren = strrchr(buf, ')');
		alive = paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X' &&
			strstr(buf, "(nbdkit)");
	}
	fclose(f);
	return alive;
}

/* Wait up to @ms for the server @pid to be gone. */
static bool wait_gone(pid_t pid, unsigned int ms)
{
	unsigned int waited;

	for (waited = 0; server_alive(pid); waited += POLL_MS) {
		if (waited >= ms)
			return false;
		sleep_ms(POLL_MS);
	}
	return true;
}

/* SIGTERM, then SIGKILL if it lingers. */
static void stop_server(pid_t pid)
{
	if (!server_alive(pid))
		return;
	kill(pid, SIGTERM);
	if (wait_gone(pid, STOP_MS))
		return;
	kill(pid, SIGKILL);
	wait_gone(pid, STOP_MS);
}

/* The last line of @path that says "error", else its last line, in @why. */
static void log_reason(const char *path, char *why, size_t len)
{
	char line[1024], last[1024] = "", error[1024] = "";
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		snprintf(last, sizeof(last), "%s", line);
		if (strstr(line, "error"))
			snprintf(error, sizeof(error), "%s", line);
	}
	fclose(f);
	if (error[0] || last[0])
		say(why, len, "%s", error[0] ? error : last);
}

/*
 * Run @argv and wait for it: its exit status (0 for success), or -errno
 * if it could not be run.  What it printed is in @out (may be NULL).
 */
static int run_command(char *const argv[], char *out, size_t out_len)
{
	FILE *tmp = tmpfile();
	int status, fd;
	size_t n;
	pid_t pid;

	if (!tmp)
		return -errno;
	pid = fork();
	if (pid < 0) {
		fclose(tmp);
		return -errno;
	}
	if (!pid) {
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, STDIN_FILENO);
		dup2(fileno(tmp), STDOUT_FILENO);
		dup2(fileno(tmp), STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			fclose(tmp);
			return -ECHILD;
		}
	}
	if (out && out_len) {
		rewind(tmp);
		n = fread(out, 1, out_len - 1, tmp);
		out[n] = '\0';
		while (n && isspace((unsigned char)out[n - 1]))
			out[--n] = '\0';
		/* one line */
		for (char *p = out; *p; p++)
			if (*p == '\n')
				*p = ' ';
	}
	fclose(tmp);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* /sys/block/nbd0 appears once the nbd module is in. */
static int load_module(char *why, size_t why_len)
{
	char *const argv[] = { "modprobe", "nbd", NULL };
	char out[256] = "";
	int r, waited;

	if (!access("/sys/block/nbd0", F_OK))
		return 0;
	r = run_command(argv, out, sizeof(out));
	for (waited = 0; !r && waited < 2000 && access("/sys/block/nbd0", F_OK); waited += POLL_MS)
		sleep_ms(POLL_MS);
	if (!access("/sys/block/nbd0", F_OK))
		return 0;
	say(why, why_len, "the kernel's NBD driver is not available (modprobe nbd: %s)",
	    out[0] ? out : "no /sys/block/nbd0");
	return -ENODEV;
}

static bool device_free(const char *name)
{
	char path[PATH_MAX];

	serve_file(path, sizeof(path), name, "serve");
	return !device_connected(name) && !device_sectors(name) && access(path, F_OK);
}

/* @want checked, or the free NBD device with the lowest number, in @name. */
static int pick_device(const char *want, char *name, size_t len, char *why, size_t why_len)
{
	struct dirent *d;
	long best = -1, n;
	char *end;
	DIR *dir;

	if (want) {
		char path[128];

		if (device_name(want, name, len)) {
			say(why, why_len, "'%s' is not an NBD device (/dev/nbdN)", want);
			return -EINVAL;
		}
		snprintf(path, sizeof(path), "/sys/block/%s", name);
		if (access(path, F_OK)) {
			say(why, why_len, "there is no device /dev/%s", name);
			return -ENOENT;
		}
		if (!device_free(name)) {
			say(why, why_len, "/dev/%s is in use", name);
			return -EBUSY;
		}
		return 0;
	}
	dir = opendir("/sys/block");
	if (!dir) {
		say(why, why_len, "cannot list /sys/block: %s", strerror(errno));
		return -errno;
	}
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "nbd", 3) || !isdigit((unsigned char)d->d_name[3]))
			continue;
		n = strtol(d->d_name + 3, &end, 10);
		if (*end || n > 0xfffff || (best >= 0 && n >= best) || !device_free(d->d_name))
			continue;
		best = n;
	}
	closedir(dir);
	if (best < 0) {
		say(why, why_len, "every NBD device is in use");
		return -EBUSY;
	}
	snprintf(name, len, "nbd%d", (int)(best & 0xfffff));
	return 0;
}

/* SNAPCTL_NBDKIT_PLUGIN, the plugin beside this program, or nbdkit's "dmrow". */
static void find_plugin(char *path, size_t len)
{
	const char *env = getenv("SNAPCTL_NBDKIT_PLUGIN");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env && *env) {
		snprintf(path, len, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if (snprintf(path, len, "%s/%s", self, PLUGIN_FILE) < (int)len &&
			    !access(path, R_OK))
				return;
		}
	}
	snprintf(path, len, "dmrow");
}

static const char *nbdkit_program(void)
{
	const char *env = getenv("SNAPCTL_NBDKIT");

	return env && *env ? env : "nbdkit";
}

/* The pid the server wrote to its pid file, if it runs; else 0. */
static pid_t server_ready(const char *pidfile)
{
	char buf[32] = "";
	FILE *f = fopen(pidfile, "re");
	pid_t pid = 0;

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f))
		pid = strtol(buf, NULL, 10);
	fclose(f);
	return server_alive(pid) ? pid : 0;
}

/*
 * Start nbdkit for @o on /dev/@name's socket: *@pid is the server's once
 * it serves, *@parent its parent, our child (see nbd_serve_start()).
 */
static int start_server(const struct nbd_serve_options *o, const char *name, pid_t *pid,
			pid_t *parent, char *why, size_t why_len)
{
	char sock[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX], plugin[PATH_MAX];
	char url[PATH_MAX + 8], exp[160], key[PATH_MAX + 16], cache[48], prefetch[32];
	char root[NBD_EXPORT_ROOT_MAX + 8];
	char *argv[24];
	unsigned int waited;
	int argc = 0, logfd, nullfd, status;
	pid_t child;

	serve_file(sock, sizeof(sock), name, "sock");
	serve_file(pidfile, sizeof(pidfile), name, "pid");
	serve_file(log, sizeof(log), name, "log");
	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		say(why, why_len, "the socket path %s is too long", sock);
		return -ENAMETOOLONG;
	}
	unlink(sock);
	unlink(pidfile);
	find_plugin(plugin, sizeof(plugin));
	snprintf(url, sizeof(url), "url=%s", o->url);
	snprintf(exp, sizeof(exp), "export=%s", o->export_name);

	/* a shell waits for the server: its parent while it runs */
	argv[argc++] = "/bin/sh";
	argv[argc++] = "-c";
	argv[argc++] = "\"$@\"; exit $?";
	argv[argc++] = "dmrow-serve";
	argv[argc++] = (char *)nbdkit_program();
	argv[argc++] = "-f";
	argv[argc++] = "--log=stderr";
	argv[argc++] = "-r";
	argv[argc++] = "-U";
	argv[argc++] = sock;
	argv[argc++] = "-P";
	argv[argc++] = pidfile;
	argv[argc++] = plugin;
	argv[argc++] = url;
	argv[argc++] = exp;
	if (o->key_file) {
		snprintf(key, sizeof(key), "key-file=%s", o->key_file);
		argv[argc++] = key;
	}
	if (o->cache_bytes) {
		snprintf(cache, sizeof(cache), "cache=%" PRIu64, o->cache_bytes);
		argv[argc++] = cache;
	}
	if (o->prefetch >= 0) {
		snprintf(prefetch, sizeof(prefetch), "prefetch=%d", o->prefetch);
		argv[argc++] = prefetch;
	}
	if (o->root && *o->root) {
		snprintf(root, sizeof(root), "root=%s", o->root);
		argv[argc++] = root;
	}
	argv[argc] = NULL;

	logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (logfd < 0) {
		say(why, why_len, "cannot create %s: %s", log, strerror(errno));
		return -errno;
	}
	child = fork();
	if (child < 0) {
		say(why, why_len, "cannot start nbdkit: %s", strerror(errno));
		close(logfd);
		return -EAGAIN;
	}
	if (!child) {
		/* a session of its own: it outlives us and our terminal */
		setsid();
		nullfd = open("/dev/null", O_RDONLY);
		if (nullfd >= 0)
			dup2(nullfd, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "error: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	for (waited = 0;; waited += POLL_MS) {
		*pid = server_ready(pidfile);
		if (*pid)
			break;
		if (waitpid(child, &status, WNOHANG) == child) {
			say(why, why_len, "the server did not start");
			log_reason(log, why, why_len);
			return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EIO;
		}
		if (waited >= READY_MS) {
			kill(child, SIGKILL);
			waitpid(child, NULL, 0);
			say(why, why_len, "the server did not start in %d s", READY_MS / 1000);
			return -ETIMEDOUT;
		}
		sleep_ms(POLL_MS);
	}
	*parent = child;
	return 0;
}

/* nbd-client connects /dev/@name, read-only, to the server's socket. */
static int connect_device(const char *name, char *why, size_t why_len)
{
	char sock[PATH_MAX], dev[64], out[512] = "";
	char *argv[] = { "nbd-client", "-unix", sock, dev, "-readonly", NULL };
	unsigned int waited;
	int r;

	serve_file(sock, sizeof(sock), name, "sock");
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	r = run_command(argv, out, sizeof(out));
	if (r) {
		say(why, why_len, "nbd-client could not connect %s: %s", dev,
		    out[0] ? out : r < 0 ? strerror(-r) : "failed");
		return r < 0 ? r : -EIO;
	}
	for (waited = 0; !(device_connected(name) && device_sectors(name)); waited += POLL_MS) {
		if (waited >= CONNECT_MS) {
			say(why, why_len, "%s was connected but shows no disk", dev);
			return -EIO;
		}
		sleep_ms(POLL_MS);
	}
	return 0;
}

static int disconnect_device(const char *name, char *why, size_t why_len)
{
	char dev[64], out[512] = "";
	char *argv[] = { "nbd-client", "-d", dev, NULL };
	unsigned int waited;
	int r;

	snprintf(dev, sizeof(dev), "/dev/%s", name);
	r = run_command(argv, out, sizeof(out));
	for (waited = 0; device_connected(name); waited += POLL_MS) {
		if (waited >= CONNECT_MS) {
			say(why, why_len, "could not disconnect %s: %s", dev,
			    out[0] ? out : r < 0 ? strerror(-r) : "it stays connected");
			return -EIO;
		}
		sleep_ms(POLL_MS);
	}
	return 0;
}

static int write_info(const char *name, const struct nbd_serve_options *o, pid_t pid)
{
	const char *root = o->root ? o->root : "";
	char path[PATH_MAX], *text;
	int len, r;

	serve_file(path, sizeof(path), name, "serve");
	len = asprintf(&text, "# served by snapctl\ndevice=/dev/%s\npid=%d\nurl=%s\nexport=%s\nroot=%s\n",
		       name, (int)pid, o->url, o->export_name, root);
	if (len < 0)
		return -ENOMEM;
	r = write_file_atomic(path, text, len, 0600);
	free(text);
	return r;
}

/* The lock that serialises starts and stops; its fd, or -errno. */
static int lock_serving(char *why, size_t why_len)
{
	char dir[PATH_MAX], path[PATH_MAX + 8];
	int fd, r;

	serve_dir(dir, sizeof(dir));
	r = make_dirs_mode(dir, 0700);
	if (r) {
		say(why, why_len, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX)) {
		r = -errno;
		say(why, why_len, "cannot lock %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

int nbd_serve_start(const struct nbd_serve_options *o, char *device, char *why,
		    size_t why_len)
{
	char name[16];
	pid_t pid = 0, parent = 0;
	int lock, r;

	say(why, why_len, "failed");
	if (!o->url || !*o->url || !o->export_name || !*o->export_name) {
		say(why, why_len, "a URL and an export are needed");
		return -EINVAL;
	}
	lock = lock_serving(why, why_len);
	if (lock < 0)
		return lock;
	r = load_module(why, why_len);
	if (!r)
		r = pick_device(o->device, name, sizeof(name), why, why_len);
	if (r)
		goto out;
	r = start_server(o, name, &pid, &parent, why, why_len);
	if (!r)
		r = connect_device(name, why, why_len);
	if (!r) {
		r = write_info(name, o, pid);
		if (r)
			say(why, why_len, "cannot record the served export: %s", strerror(-r));
	}
	if (r) {
		if (device_connected(name))
			disconnect_device(name, NULL, 0);
		if (pid) {
			stop_server(pid);
			waitpid(parent, NULL, 0);
		}
		remove_files(name);
		goto out;
	}
	snprintf(device, NBD_DEVICE_MAX, "/dev/%s", name);
out:
	close(lock);
	return r;
}

static int read_info(const char *name, struct nbd_serve_info *info)
{
	char path[PATH_MAX], line[PATH_MAX + 16], *eq;
	FILE *f;

	memset(info, 0, sizeof(*info));
	serve_file(path, sizeof(path), name, "serve");
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		eq = strchr(line, '=');
		if (line[0] == '#' || !eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "pid"))
			info->pid = strtol(eq, NULL, 10);
		else if (!strcmp(line, "url"))
			snprintf(info->url, sizeof(info->url), "%s", eq);
		else if (!strcmp(line, "export"))
			snprintf(info->export_name, sizeof(info->export_name), "%s", eq);
		else if (!strcmp(line, "root"))
			snprintf(info->root, sizeof(info->root), "%s", eq);
	}
	fclose(f);
	snprintf(info->device, sizeof(info->device), "/dev/%s", name);
	info->server_running = server_alive(info->pid);
	info->connected = device_connected(name);
	return 0;
}

int nbd_serve_status(const char *device, struct nbd_serve_info *info)
{
	char name[16];

	if (device_name(device, name, sizeof(name)))
		return -EINVAL;
	return read_info(name, info);
}

int nbd_serve_stop(const char *device, bool force, char *why, size_t why_len)
{
	struct nbd_serve_info info;
	char name[16], dev[64];
	int lock, r, fd;

	say(why, why_len, "failed");
	if (device_name(device, name, sizeof(name))) {
		say(why, why_len, "'%s' is not an NBD device (/dev/nbdN)", device);
		return -EINVAL;
	}
	snprintf(dev, sizeof(dev), "/dev/%s", name);
	lock = lock_serving(why, why_len);
	if (lock < 0)
		return lock;
	r = read_info(name, &info);
	if (r) {
		say(why, why_len, "no export is served on %s", dev);
		goto out;
	}
	if (info.connected && !force) {
		/* a mount or a device-mapper table holds it exclusively */
		fd = open(dev, O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd < 0 && errno == EBUSY) {
			say(why, why_len, "%s is in use (mounted, or under a device-mapper table)",
			    dev);
			r = -EBUSY;
			goto out;
		}
		if (fd >= 0)
			close(fd);
	}
	if (info.connected) {
		r = disconnect_device(name, why, why_len);
		if (r)
			goto out;
	}
	stop_server(info.pid);
	if (server_alive(info.pid)) {
		say(why, why_len, "the server of %s (pid %d) does not stop", dev, (int)info.pid);
		r = -EBUSY;
		goto out;
	}
	remove_files(name);
out:
	close(lock);
	return r;
}

static int compare_devices(const struct dirent **a, const struct dirent **b)
{
	return (int)(strtol((*a)->d_name + 3, NULL, 10) - strtol((*b)->d_name + 3, NULL, 10));
}

static int is_serve_file(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return !strncmp(d->d_name, "nbd", 3) && len > 9 && len < 16 &&
	       !strcmp(d->d_name + len - 6, ".serve");
}

int nbd_serve_for_each(int (*fn)(void *context, const struct nbd_serve_info *info),
		       void *context)
{
	struct nbd_serve_info info;
	struct dirent **entries;
	char dir[PATH_MAX], name[16];
	int n, i, r = 0;

	serve_dir(dir, sizeof(dir));
	n = scandir(dir, &entries, is_serve_file, compare_devices);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(entries[i]->d_name) - 6),
			 entries[i]->d_name);
		if (!r && !read_info(name, &info))
			r = fn(context, &info);
		free(entries[i]);
	}
	free(entries);
	return r;
}
