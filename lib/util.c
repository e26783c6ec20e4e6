/*
 * Clocks, input checks, job hashing, event ids and the index key hash.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include <nettle/sha2.h>
#include <uuid/uuid.h>

#include "internal.h"

int64_t rlb__wall_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Returns 1 when s is a string of 1 to max bytes. */
static int text_fits(const char *s, size_t max)
{
  return s != NULL && s[0] != '\0' && strnlen(s, max + 1) <= max;
}

int rlb__check_code(const char *code)
{
  return text_fits(code, RLB_CODE_MAX) ? 0 : RLB_EINVALCODE;
}

int rlb__check_filter_code(const char *code)
{
  return code == NULL ? 0 : rlb__check_code(code);
}

int rlb__check_model(const char *model)
{
  if (model == NULL)
    return 0;
  return text_fits(model, RLB_MODEL_MAX) ? 0 : RLB_EINVALMODEL;
}

int rlb__check_duration(double seconds)
{
  if (!isfinite(seconds) || seconds <= 0.0 || seconds > RLB_DURATION_MAX)
    return RLB_EINVALDURATION;
  return 0;
}

/* An id is 36 characters: lowercase hex digits in groups of 8-4-4-4-12. */
int rlb__check_id(const char *id)
{
  size_t i;

  if (id == NULL || strnlen(id, RLB_ID_LEN + 1) != RLB_ID_LEN)
    return RLB_EINVALID;
  for (i = 0; i < RLB_ID_LEN; i++) {
    char c = id[i];
    int dash = i == 8 || i == 13 || i == 18 || i == 23;

    if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return RLB_EINVALID;
  }
  return 0;
}

int rlb_job_hash(const char *job, char out[RLB_HASH_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  size_t i;

  if (out == NULL || !text_fits(job, RLB_JOB_MAX))
    return RLB_EINVALJOB;
  sha256_init(&ctx);
  sha256_update(&ctx, strlen(job), (const uint8_t *)job);
  sha256_update(&ctx, 1, (const uint8_t *)":");
  sha256_digest(&ctx, sizeof(digest), digest);
  for (i = 0; i < RLB_HASH_LEN / 2; i++) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 0xf];
  }
  out[RLB_HASH_LEN] = '\0';
  return 0;
}

uint64_t rlb__key_hash(const char *code, const char *model)
{
  return rlb__key_hash_n(code, code ? strlen(code) : 0, model,
                         model ? strlen(model) : 0);
}
