// The CUDA engine's Node-API calls (native/cuda.c).
#pragma once
#include <node_api.h>
#include <stdbool.h>

bool cuda_define(napi_env env, napi_value exports);
