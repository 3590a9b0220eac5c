/* Stand-in for nginx in the images critest runs as web servers: what the
 * tests observe of nginx, nothing more. It writes its pid to
 * /var/run/nginx.pid, names itself "nginx: master process ..." in
 * /proc/<pid>/cmdline (argv is rewritten in place, so the image starts it
 * with arguments long enough to hold the title), serves
 * /usr/share/nginx/html over HTTP with busybox httpd as its child (port
 * $NGINX_PORT, default 80), and on SIGTERM, SIGINT or SIGQUIT stops that
 * child and exits 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t server;

static void stop(int sig)
{
	(void)sig;
	if (server > 0)
		kill(server, SIGTERM);
	_exit(0);
}

int main(int argc, char **argv)
{
	static const char title[] = "nginx: master process nginx -g daemon off;";
	const char *port = getenv("NGINX_PORT");
	struct sigaction sa = { 0 };
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
	size_t room = (size_t)(end - start);
	FILE *f;
	int status;

	sa.sa_handler = stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);

	f = fopen("/var/run/nginx.pid", "w");
	if (!f) {
		perror("nginx: /var/run/nginx.pid");
		return 1;
	}
	fprintf(f, "%d\n", (int)getpid());
	fclose(f);

	server = fork();
	if (server < 0) {
		perror("nginx: fork");
		return 1;
	}
	if (server == 0) {
		execl("/bin/busybox", "httpd", "-f", "-p", port && *port ? port : "80",
		      "-h", "/usr/share/nginx/html", (char *)NULL);
		perror("nginx: exec /bin/busybox httpd");
		_exit(127);
	}

	memset(start, 0, room);
	memcpy(start, title, room < sizeof(title) - 1 ? room : sizeof(title) - 1);

	while (waitpid(server, &status, 0) < 0)
		;
	fprintf(stderr, "nginx: server exited (status %d)\n", status);
	return 1;
}
