/*
 * sendfile_test: runs sendfile_client (which starts sendfile_server) on
 * generated files: 3 MiB that end inside a page, with 32 commands in flight
 * and a server pool much smaller than the file (its cache recycles); and
 * 1 MiB of whole pages, one command at a time, with a pool larger than the
 * file (after the first pass, every page is a hit).
 *
 *   sendfile_test CLIENT SERVER    (bazel test passes both)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int make_file(const char *dir, const char *name, size_t bytes, char *path,
                     size_t path_len) {
  snprintf(path, path_len, "%s/%s", dir, name);
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  unsigned char block[65536];
  uint64_t x = 88172645463325252ull ^ bytes;
  for (size_t done = 0; done < bytes;) {
    for (size_t i = 0; i < sizeof block; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      block[i] = (unsigned char)x;
    }
    const size_t n = bytes - done < sizeof block ? bytes - done : sizeof block;
    if (write(fd, block, n) != (ssize_t)n) return -1;
    done += n;
  }
  return close(fd);
}

static int run(char *const argv[]) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    execv(argv[0], argv);
    _exit(127);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sendfile_test CLIENT SERVER\n");
    return 2;
  }
  const char *tmp = getenv("TEST_TMPDIR");
  if (tmp == NULL) tmp = "/tmp";
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  struct {
    const char *name;
    size_t bytes;
    const char *window, *pool;
  } cases[] = {
      {"ragged", 3 * 1024 * 1024 + 1234, "32", "64"},
      {"whole", 256 * page, "1", "512"},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[4096];
    if (make_file(tmp, cases[i].name, cases[i].bytes, path, sizeof path) != 0) {
      fprintf(stderr, "sendfile_test: %s: %s\n", path, strerror(errno));
      return 1;
    }
    char *args[] = {argv[1], argv[2], path, (char *)cases[i].window,
                    (char *)cases[i].pool, NULL};
    const int rc = run(args);
    printf("sendfile_test: %s (%zu bytes, window %s, pool %s): %s\n", cases[i].name,
           cases[i].bytes, cases[i].window, cases[i].pool, rc == 0 ? "ok" : "FAILED");
    fflush(stdout);
    if (rc != 0) failed++;
    unlink(path);
  }
  printf("%d passed, %d failed\n", (int)(sizeof cases / sizeof cases[0]) - failed, failed);
  return failed == 0 ? 0 : 1;
}
