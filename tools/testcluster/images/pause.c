/* The pod sandbox's pause process for the end-to-end node: sleeps until told to stop and reaps
 * nothing else (the sandbox shares no PID namespace here). Built static by images.sh, so its
 * image is this one file. */
#include <signal.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    for (;;) pause();
}
