#include "heed/base/rng.h"
