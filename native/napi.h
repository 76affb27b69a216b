// Node-API helpers of the addon's two files (integer.c, ranks.c).
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

/** Throws `what`, unless an exception is pending already (the first says what went wrong); NULL, to return. */
static inline void *fail(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, what);
  return NULL;
}

/** A typed array's data and length, if `v` is a typed array of type `want`; else NULL. */
static inline void *typed_array(napi_env env, napi_value v, napi_typedarray_type want, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  void *data;
  if (!v || napi_is_typedarray(env, v, &is) != napi_ok || !is) return NULL;
  if (napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok || type != want) return NULL;
  return *length ? data : (void *)"";
}
