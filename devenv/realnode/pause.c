/* The sandbox ("pause") process of the real node's pods: it holds the pod's namespaces,
 * sleeps until SIGTERM or SIGINT, and reaps any child re-parented to it (it is PID 1 of
 * the pod's PID namespace when one is shared). Built with `gcc -static` into a
 * FROM-scratch image (devenv/images.py): nothing can be pulled on these machines. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static void on_child(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction act = {0};
  act.sa_handler = on_stop;
  sigaction(SIGTERM, &act, 0);
  sigaction(SIGINT, &act, 0);
  act.sa_handler = on_child;
  act.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &act, 0);
  while (!stop) pause();
  return 0;
}
