// The exact coder's row arithmetic (native/ranks.c), added to the addon's exports by native/integer.c.
#include <node_api.h>
#include <stdbool.h>

bool ranks_define(napi_env env, napi_value exports);
