/*
 * merge_config.c — a C program that includes only distac.h: merges with the
 * settings of a config file, as `distac merge --config FILE` does.
 *
 *   cc merge_config.c $(pkg-config --cflags --libs distac) -o merge_config
 *   ./merge_config merge.json
 *
 * Exits 0 on success; else prints the code's name and the message and
 * exits with the code's absolute value. scripts/capi_test.sh checks its
 * output against the CLI's, bit for bit.
 */
#include <stdio.h>
#include <stdlib.h>

#include "distac.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CONFIG\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) return perror(argv[1]), 2;
  char config[65536];
  size_t n = fread(config, 1, sizeof config - 1, f);
  fclose(f);
  config[n] = 0;
  char *err = NULL;
  int rc = distac_merge(config, &err);
  if (rc != DISTAC_OK) fprintf(stderr, "%s (%d): %s\n", distac_error_string(rc), rc, err ? err : "");
  distac_free(err);
  return rc < 0 ? -rc : rc;
}
