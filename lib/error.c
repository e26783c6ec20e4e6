/*
 * Error codes, their names and messages, the log callback and the version.
 * The library's own codes come from the RLB_ERRORS table in the public
 * header; any other negative code is a negated errno value.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static rlb_log_fn log_fn;
static void *log_context;
static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;

const char *rlb_strerror(int code)
{
  if (code >= 0)
    return "success";
  switch (code) {
#define RLB_ERROR_MESSAGE_(name, value, message)                               \
  case value:                                                                  \
    return message;
    RLB_ERRORS(RLB_ERROR_MESSAGE_)
#undef RLB_ERROR_MESSAGE_
  default:
    break;
  }
  if (code > RLB_ERROR_BASE)
    return strerror(-code);
  return "unknown error";
}

const char *rlb_error_name(int code)
{
  if (code >= 0)
    return "OK";
  switch (code) {
#define RLB_ERROR_NAME_(name, value, message)                                  \
  case value:                                                                  \
    return #name;
    RLB_ERRORS(RLB_ERROR_NAME_)
#undef RLB_ERROR_NAME_
  default:
    break;
  }
  if (code > RLB_ERROR_BASE) {
    const char *name = strerrorname_np(-code);
    if (name != NULL)
      return name;
  }
  return "UNKNOWN";
}

const char *rlb_version(void)
{
  return RLBOARD_VERSION_STRING;
}

int rlb_version_number(void)
{
  return RLBOARD_VERSION_NUMBER;
}

void rlb_set_log_callback(rlb_log_fn fn, void *context)
{
  pthread_mutex_lock(&log_mutex);
  log_fn = fn;
  log_context = context;
  pthread_mutex_unlock(&log_mutex);
}

/* Formats into a fixed buffer, so logging never allocates. */
void rlb__log(int level, const char *fmt, ...)
{
  char message[512];
  rlb_log_fn fn;
  void *context;
  va_list ap;

  pthread_mutex_lock(&log_mutex);
  fn = log_fn;
  context = log_context;
  pthread_mutex_unlock(&log_mutex);
  if (fn == NULL)
    return;
  va_start(ap, fmt);
  vsnprintf(message, sizeof(message), fmt, ap);
  va_end(ap);
  fn(context, level, message);
}
