// The ZooKeeper C client (Debian's libzookeeper-mt-dev), multi-threaded flavour.
// Only the asynchronous API is used, so THREADED is not defined here.
#include <zookeeper/zookeeper.h>
