// The cm coder (native/cm.c), added to the addon's exports by native/integer.c.
#pragma once
#include <node_api.h>
#include <stdbool.h>

bool cm_define(napi_env env, napi_value exports);
