// The system zlib (Debian: zlib1g-dev), for the Bundle layer's gzip reader.
#include <zlib.h>
