/*
 * `npm run bench:machine`: what the kernel paths every benchmark here leans on cost on this
 * machine, so that figures from machines of different kinds can be told apart.
 *
 * On the VM this project is developed on, a page fault costs about 10 µs and a system call
 * about 1 µs, where bare-metal Linux takes a small fraction of either, and that decides much
 * of where a Node.js process's CPU goes (docs/design-notes.md, Runtime). In C, so that nothing
 * but the kernel path is timed. Prints one line per measurement, in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void fail(const char *what) {
  perror(what);
  exit(1);
}

/* A connected pair of loopback TCP sockets, Nagle off on both. */
static void tcp_pair(int *a, int *b) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in address = {0};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 ||
      listen(listener, 1) != 0 || getsockname(listener, (struct sockaddr *)&address, &length) != 0)
    fail("listen");
  *a = socket(AF_INET, SOCK_STREAM, 0);
  if (*a < 0 || connect(*a, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
  *b = accept(listener, NULL, NULL);
  if (*b < 0) fail("accept");
  close(listener);
  int one = 1;
  setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void read_fully(int fd, char *buffer, size_t n) {
  while (n > 0) {
    ssize_t got = read(fd, buffer, n);
    if (got <= 0) fail("read");
    buffer += got;
    n -= (size_t)got;
  }
}

int main(void) {
  const int calls = 200000;
  double start = now_us();
  for (int i = 0; i < calls; i++) syscall(SYS_getpid);
  printf("syscall (getpid): %.3f us\n", (now_us() - start) / calls);

  /* First touch of fresh anonymous memory: one minor fault and a zeroed page per 4 KiB. */
  const size_t bytes = 128UL << 20;
  const long page = sysconf(_SC_PAGESIZE);
  char *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) fail("mmap");
  start = now_us();
  for (size_t i = 0; i < bytes; i += (size_t)page) memory[i] = 1;
  double faulting = (now_us() - start) / (double)(bytes / (size_t)page);
  start = now_us();
  for (size_t i = 0; i < bytes; i += (size_t)page) memory[i] = 2;
  double mapped = (now_us() - start) / (double)(bytes / (size_t)page);
  printf("page fault (first touch of a fresh page): %.3f us; the same page once mapped: %.3f us\n",
         faulting, mapped);
  munmap(memory, bytes);

  char buffer[1024];
  memset(buffer, 7, sizeof buffer);
  int a, b;
  tcp_pair(&a, &b);
  start = now_us();
  for (int i = 0; i < calls / 4; i++) {
    if (write(a, buffer, sizeof buffer) != (ssize_t)sizeof buffer) fail("write");
    read_fully(b, buffer, sizeof buffer);
  }
  printf("loopback TCP, 1 KiB write + read in one thread: %.3f us\n",
         (now_us() - start) / (calls / 4));

  /*
   * A round trip to another process that sleeps in read between messages, as a server waits
   * in epoll: each message wakes the other side. Half of it is what one request-and-answer
   * hop between two idle processes costs.
   */
  int c, d;
  tcp_pair(&c, &d);
  fflush(stdout); /* or the child would print what is buffered again */
  pid_t child = fork();
  if (child < 0) fail("fork");
  if (child == 0) {
    close(c); /* so that the parent's close is the end of the stream */
    char message[64];
    for (;;) {
      ssize_t got = read(d, message, sizeof message);
      if (got <= 0) _exit(0);
      if (write(d, message, (size_t)got) != got) _exit(1);
    }
  }
  close(d);
  const int trips = 20000;
  char message[64] = {0};
  start = now_us();
  for (int i = 0; i < trips; i++) {
    if (write(c, message, sizeof message) != (ssize_t)sizeof message) fail("write");
    read_fully(c, message, sizeof message);
  }
  printf("loopback TCP round trip to another process (64 bytes each way): %.3f us\n",
         (now_us() - start) / trips);
  close(c);
  waitpid(child, NULL, 0);
  return 0;
}
