// libsystemd's notification and socket-activation API (libsystemd-dev).
#include <systemd/sd-daemon.h>
