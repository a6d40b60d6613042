// libsystemd's notification, socket-activation and journal API (libsystemd-dev).
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
